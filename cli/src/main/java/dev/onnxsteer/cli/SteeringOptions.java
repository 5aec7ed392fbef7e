package dev.onnxsteer.cli;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.sites.SiteNames;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options that say what to steer with; shared by compile and generate. */
final class SteeringOptions {
    @Option(names = "--vector", paramLabel = "FILE[:COEFF]",
            description = "A .gguf control vector or .safetensors vector file, optionally with its own coefficient "
                    + "(repeatable; vectors for the same layer are summed).")
    List<String> vectors = new ArrayList<>();

    @Option(names = "--coeff", paramLabel = "C",
            description = "Coefficient applied to every vector (default 1); with a bank, the default steer_scale.")
    Float coefficient;

    @Option(names = "--layers", paramLabel = "2,3|1-4|all",
            description = "Layers to steer (default: the layers the vector files have).")
    String layers;

    @Option(names = "--site", paramLabel = "SITE",
            description = {"resid_post (default), resid_pre, attn_in, attn_out, resid_mid, mlp_in or mlp_out, "
                    + "optionally with its layer (resid_post.2);",
                    "or a TransformerLens hook name (blocks.2.hook_resid_post, blocks.2.ln1.hook_normalized);",
                    "or the Hugging Face module path whose output a hook would change (transformer.h.2.mlp, "
                    + "model.layers.2.self_attn, encoder.layer.2).",
                    "A name with a layer steers that layer with the vector file's vector for it (or its only one)."})
    String site;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "auto",
            description = "auto (default: bias where valid, else add), add, input or bias.")
    String mode;

    @Option(names = "--create-bias",
            description = "With --mode bias at attn_in/mlp_in: give projections without a bias (llama) one bias "
                    + "initializer each, instead of refusing.")
    boolean createBias;

    @Option(names = "--exact",
            description = "Refuse an edit of quantized weights (orthogonalize on MatMulNBits, MatMulInteger, QDQ) "
                    + "whose requantization would not store exactly the edited values.")
    boolean exact;

    @Option(names = "--op", paramLabel = "OP", defaultValue = "add",
            description = "add (default), ablate (x - (x.r)r), ablate-add, clamp (needs --clamp-value), "
                    + "or orthogonalize (rewrite every residual writer so r can never be written).")
    String op;

    @Option(names = "--positions", paramLabel = "P", defaultValue = "all",
            description = "Token positions to steer: all (default), prompt, generated, first:N or from:N "
                    + "(computed in the graph from position_ids).")
    String positions;

    @Option(names = "--preserve-norm",
            description = "After the operation, rescale each steered position to its original norm.")
    boolean preserveNorm;

    @Option(names = "--clamp-value", paramLabel = "C",
            description = "With --op clamp: the value the projection on r is set to.")
    Float clampValue;

    @Option(names = "--bank",
            description = "Implies --mode input: each --vector file becomes one row of a vector bank (inputs steer_bank, "
                    + "steer_index, steer_scale) instead of being summed, so each row of a batch picks its own.")
    boolean bank;

    @Mixin
    LargeVectorOption largeVectors = new LargeVectorOption();

    boolean present() {
        return !vectors.isEmpty();
    }

    Mode mode() {
        Mode parsed = Mode.parse(mode);
        return bank && parsed == Mode.AUTO ? Mode.INPUT : parsed;
    }

    /** The operation options, checked for combinations that do not make sense. */
    SteerOptions options() {
        SteerOp parsedOp = SteerOp.parse(op);
        if (parsedOp == SteerOp.CLAMP && clampValue == null) {
            throw new IllegalArgumentException("--op clamp needs --clamp-value C: the value the projection on the "
                    + "direction is set to");
        }
        if (parsedOp != SteerOp.CLAMP && clampValue != null) {
            throw new IllegalArgumentException("--clamp-value only applies to --op clamp (this is --op " + op + ")");
        }
        if (parsedOp == SteerOp.CLAMP && coefficient != null) {
            throw new IllegalArgumentException("--op clamp takes its value from --clamp-value, not --coeff");
        }
        if ((parsedOp == SteerOp.ABLATE || parsedOp == SteerOp.ORTHOGONALIZE) && coefficient != null) {
            throw new IllegalArgumentException("--op " + op + " uses only the vector's direction; --coeff does not apply");
        }
        if (bank && Mode.parse(mode) != Mode.AUTO && Mode.parse(mode) != Mode.INPUT) {
            throw new IllegalArgumentException("--bank makes the vectors graph inputs; it needs --mode input, not --mode "
                    + mode);
        }
        return new SteerOptions(parsedOp, Positions.parse(positions), preserveNorm, bank, createBias, exact);
    }

    private float coefficientValue() {
        if (clampValue != null) {
            return clampValue;
        }
        return coefficient != null ? coefficient : 1f;
    }

    /** The steering the options ask for, checked against the model's sites. */
    List<Steering> steerings(SiteMap sites) {
        if (vectors.isEmpty()) {
            throw new IllegalArgumentException("no vector given: pass --vector FILE[:COEFF]");
        }
        List<Path> paths = vectorFiles();
        List<Float> coefficients = new ArrayList<>();
        for (String spec : vectors) {
            Float own = ownCoefficient(spec);
            coefficients.add(own == null ? 1f : own);
        }
        if (bank) {
            return bankSteerings(sites, paths, coefficients);
        }
        // One file keeps its raw vector so the recorded coefficient is the one the user chose;
        // several are summed with their own coefficients first, as llama.cpp does.
        boolean single = paths.size() == 1;
        SteeringVectors combined = single ? VectorFiles.read(paths.get(0), largeVectors.allowLargeVectors)
                : VectorFiles.readCombined(paths, coefficients, largeVectors.allowLargeVectors);
        float scale = clampValue != null ? clampValue : single ? coefficients.get(0) * coefficientValue() : coefficientValue();
        Target target = target(sites, combined);
        List<Steering> steerings = new ArrayList<>();
        for (int layer : target.layers()) {
            float[] vector = layerVector(combined, layer);
            if (vector == null) {
                throw new BadVectorException("no vector for layer " + layer + " in " + paths + "; they have layers "
                        + combined.layerIndices());
            }
            steerings.add(new Steering(target.kind(), layer, vector, scale));
        }
        if (steerings.isEmpty()) {
            throw new BadVectorException("the vector files " + paths + " hold no layers to steer");
        }
        return steerings;
    }

    /** The vector files named by {@code --vector}, without their {@code :COEFF}. */
    List<Path> vectorFiles() {
        List<Path> paths = new ArrayList<>();
        for (String spec : vectors) {
            paths.add(Path.of(ownCoefficient(spec) == null ? spec : spec.substring(0, spec.lastIndexOf(':'))));
        }
        return paths;
    }

    /** The number after the last colon of {@code FILE:COEFF}; null when there is none (a colon in a path). */
    private static Float ownCoefficient(String spec) {
        int colon = spec.lastIndexOf(':');
        if (colon <= 0) {
            return null;
        }
        try {
            return Float.parseFloat(spec.substring(colon + 1));
        } catch (NumberFormatException notACoefficient) {
            return null;
        }
    }

    /** One steering per file and layer, in file order: the rows of the bank at each site. */
    private List<Steering> bankSteerings(SiteMap sites, List<Path> paths, List<Float> coefficients) {
        List<SteeringVectors> files = new ArrayList<>();
        for (int i = 0; i < paths.size(); i++) {
            SteeringVectors read = VectorFiles.read(paths.get(i), largeVectors.allowLargeVectors);
            files.add(SteeringVectors.combine(List.of(new SteeringVectors.Term(read, coefficients.get(i)))));
        }
        Target target = target(sites, files.get(0));
        List<Steering> steerings = new ArrayList<>();
        for (int layer : target.layers()) {
            for (int i = 0; i < files.size(); i++) {
                SteeringVectors file = files.get(i);
                float[] vector = layerVector(file, layer);
                if (vector == null) {
                    throw new BadVectorException("bank vector " + paths.get(i) + " has no layer " + layer
                            + "; it has layers " + file.layerIndices() + " and every bank vector needs every steered layer");
                }
                steerings.add(new Steering(target.kind(), layer, vector, coefficientValue()));
            }
        }
        return steerings;
    }

    /** Which site kind at which layers. */
    private record Target(SiteKind kind, SortedSet<Integer> layers) {}

    /**
     * The site from {@code --site} (default: the vector file's) and the layers from {@code --layers}
     * (default: the layers {@code vectors} has), or the one layer the site names.
     */
    private Target target(SiteMap sites, SteeringVectors vectors) {
        SiteNames.SiteName name = SiteNames.parse(site != null ? site : vectors.metadata().site());
        SortedSet<Integer> chosen = layers == null ? vectors.layerIndices() : LayerSelection.parse(layers, sites.layerCount());
        if (!name.hasLayer()) {
            return new Target(name.kind(), chosen);
        }
        // the site names its layer (blocks.2.hook_resid_post, transformer.h.2.mlp, resid_post.2)
        SiteNames.Resolved resolved = SiteNames.resolve(sites, name.text());
        SortedSet<Integer> named = new TreeSet<>(Set.of(resolved.layer()));
        if (layers != null && !chosen.equals(named)) {
            throw new IllegalArgumentException("--site " + name.text() + " names layer " + resolved.layer()
                    + " but --layers says " + layers + "; give the layer once");
        }
        return new Target(resolved.kind(), named);
    }

    /** The vector for {@code layer}: the file's own, or its only one (a single direction fits any layer); else null. */
    private static float[] layerVector(SteeringVectors vectors, int layer) {
        if (vectors.hasLayer(layer)) {
            return vectors.layer(layer);
        }
        return vectors.layerIndices().size() == 1 ? vectors.layer(vectors.layerIndices().first()) : null;
    }
}
