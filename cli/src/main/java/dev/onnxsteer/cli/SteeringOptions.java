package dev.onnxsteer.cli;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedSet;
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
            description = "resid_post (default), resid_pre, resid_mid, attn_out or mlp_out.")
    String site;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "auto",
            description = "auto (default: bias where valid, else add), add, input or bias.")
    String mode;

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
            description = "With --mode input: each --vector file becomes one row of a vector bank (inputs steer_bank, "
                    + "steer_index, steer_scale) instead of being summed, so each row of a batch picks its own.")
    boolean bank;

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
        return new SteerOptions(parsedOp, Positions.parse(positions), preserveNorm, bank);
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
        List<Path> paths = new ArrayList<>();
        List<Float> coefficients = new ArrayList<>();
        for (String spec : vectors) {
            int colon = spec.lastIndexOf(':');
            Float own = null;
            if (colon > 0) {
                try {
                    own = Float.parseFloat(spec.substring(colon + 1));
                } catch (NumberFormatException notACoefficient) {
                    own = null;
                }
            }
            paths.add(Path.of(own == null ? spec : spec.substring(0, colon)));
            coefficients.add(own == null ? 1f : own);
        }
        if (bank) {
            return bankSteerings(sites, paths, coefficients);
        }
        // One file keeps its raw vector so the recorded coefficient is the one the user chose;
        // several are summed with their own coefficients first, as llama.cpp does.
        boolean single = paths.size() == 1;
        SteeringVectors combined = single ? VectorFiles.read(paths.get(0)) : VectorFiles.readCombined(paths, coefficients);
        float scale = clampValue != null ? clampValue : single ? coefficients.get(0) * coefficientValue() : coefficientValue();
        SiteKind kind = SiteKind.parse(site != null ? site : combined.metadata().site());
        SortedSet<Integer> available = combined.layerIndices();
        SortedSet<Integer> chosen = layers == null ? available : LayerSelection.parse(layers, sites.layerCount());
        List<Steering> steerings = new ArrayList<>();
        for (int layer : chosen) {
            float[] vector;
            if (combined.hasLayer(layer)) {
                vector = combined.layer(layer);
            } else if (available.size() == 1) {
                vector = combined.layer(available.first());
            } else {
                throw new BadVectorException("no vector for layer " + layer + " in " + paths + "; they have layers "
                        + available);
            }
            steerings.add(new Steering(kind, layer, vector, scale));
        }
        if (steerings.isEmpty()) {
            throw new BadVectorException("the vector files " + paths + " hold no layers to steer");
        }
        return steerings;
    }

    /** One steering per file and layer, in file order: the rows of the bank at each site. */
    private List<Steering> bankSteerings(SiteMap sites, List<Path> paths, List<Float> coefficients) {
        List<SteeringVectors> files = new ArrayList<>();
        for (int i = 0; i < paths.size(); i++) {
            SteeringVectors read = VectorFiles.read(paths.get(i));
            files.add(SteeringVectors.combine(List.of(new SteeringVectors.Term(read, coefficients.get(i)))));
        }
        SiteKind kind = SiteKind.parse(site != null ? site : files.get(0).metadata().site());
        SortedSet<Integer> chosen = layers == null ? files.get(0).layerIndices()
                : LayerSelection.parse(layers, sites.layerCount());
        List<Steering> steerings = new ArrayList<>();
        for (int layer : chosen) {
            for (int i = 0; i < files.size(); i++) {
                SteeringVectors file = files.get(i);
                float[] vector;
                if (file.hasLayer(layer)) {
                    vector = file.layer(layer);
                } else if (file.layerIndices().size() == 1) {
                    vector = file.layer(file.layerIndices().first());
                } else {
                    throw new BadVectorException("bank vector " + paths.get(i) + " has no layer " + layer
                            + "; it has layers " + file.layerIndices() + " and every bank vector needs every steered layer");
                }
                steerings.add(new Steering(kind, layer, vector, coefficientValue()));
            }
        }
        return steerings;
    }
}
