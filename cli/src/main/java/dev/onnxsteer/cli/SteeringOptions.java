package dev.onnxsteer.cli;

import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.plan.LayerChoice;
import dev.onnxsteer.plan.PlanVector;
import dev.onnxsteer.plan.SteeringPlan;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options that say what to steer with; shared by compile and generate. */
final class SteeringOptions {
    @Option(names = "--vector", paramLabel = "FILE[:COEFF]",
            description = "A .gguf control vector or .safetensors vector file, or an SAE feature sae:DIR#FEATURE[,unit] "
                    + "(row FEATURE of a SAELens directory's W_dec at its hook_name; ,unit scales it to length 1), "
                    + "optionally with its own coefficient (repeatable; vectors for the same layer are summed).")
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

    /** The steering the options ask for, checked against the model's sites (see {@link SteeringPlan} for the rules). */
    List<Steering> steerings(SiteMap sites) {
        return plan(sites).steeringFor(sites);
    }

    /** The options as a library plan: the vector files read, {@code --layers} parsed against the model's layer count. */
    SteeringPlan plan(SiteMap sites) {
        if (vectors.isEmpty()) {
            throw new IllegalArgumentException("no vector given: pass --vector FILE[:COEFF]");
        }
        List<PlanVector> files = new ArrayList<>();
        for (String spec : vectors) {
            Float own = ownCoefficient(spec);
            String source = withoutCoefficient(spec);
            files.add(new PlanVector(source, VectorFiles.readSource(source, largeVectors.allowLargeVectors),
                    own == null ? 1f : own));
        }
        LayerChoice choice = layers == null ? null
                : new LayerChoice(LayerSelection.parse(layers, sites.layerCount()), "--layers", layers);
        SteerOp parsedOp = SteerOp.parse(op);
        return new SteeringPlan(files, coefficient, choice, site, parsedOp, parsedOp == SteerOp.CLAMP ? clampValue : null,
                bank);
    }

    /** The vector files named by {@code --vector}, without their {@code :COEFF}. */
    List<Path> vectorFiles() {
        List<Path> paths = new ArrayList<>();
        for (String spec : vectors) {
            paths.add(VectorFiles.pathOf(withoutCoefficient(spec)));
        }
        return paths;
    }

    private static String withoutCoefficient(String spec) {
        return ownCoefficient(spec) == null ? spec : spec.substring(0, spec.lastIndexOf(':'));
    }

    /** The number after the last colon of {@code FILE:COEFF}; null when there is none (a colon in a path). */
    static Float ownCoefficient(String spec) {
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
}
