package dev.onnxsteer.cli;

import dev.onnxsteer.passes.Condition;
import dev.onnxsteer.passes.ConditionPass;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** compile's conditional-steering options (CAST): the steering applies only to rows whose prompt meets the condition. */
final class ConditionOptions {
    @Option(names = "--condition", paramLabel = "FILE[:THRESHOLD]",
            description = {"Gate the steering with a condition vector file (CAST): per row, the prompt's hidden state h "
                    + "at the condition layers is compared with its projection tanh(P h) on the direction; the row is "
                    + "steered when cos(h, tanh(P h)) is above (or below) THRESHOLD.",
                    "Layers, threshold, comparator and aggregate not given as flags come from the file's metadata "
                            + "(written by sweep --condition or extract --condition), else default to every layer of "
                            + "the file, 0, above and mean.",
                    "The decision is made at the prompt and kept for the whole generation (graph state "
                    + "steer_condition_past/present, fed back like the KV cache)."})
    String condition;

    @Option(names = "--condition-layers", paramLabel = "2,3|1-4|all",
            description = "Layers the condition is read at (default: the file's chosen layer, else all its layers); "
                    + "several fire when any does.")
    String layers;

    @Option(names = "--condition-comparator", paramLabel = "above|below",
            description = "Fire when the similarity is above or below the threshold (default: the file's, else above).")
    String comparator;

    @Option(names = "--condition-aggregate", paramLabel = "mean|last",
            description = "Read the mean over the prompt's tokens or the last prompt token (default: the file's, else mean).")
    String aggregate;

    private List<String> sources = List.of();

    boolean present() {
        return condition != null;
    }

    /** The condition file named by {@code --condition}, without its threshold. */
    Path file() {
        return Path.of(threshold() == null ? condition : condition.substring(0, condition.lastIndexOf(':')));
    }

    /** The pass that gates the steering; the options are checked here, the file read when the model's sites are known. */
    ConditionPass pass(boolean allowLarge) {
        if (comparator != null) {
            Condition.Comparator.parse(comparator);
        }
        if (aggregate != null) {
            Condition.Aggregate.parse(aggregate);
        }
        ConditionSettings settings = new ConditionSettings(file(), threshold(), layers, comparator, aggregate);
        return new ConditionPass(sites -> {
            ConditionSettings.Resolved resolved = settings.resolve(sites, VectorFiles.read(file(), allowLarge));
            sources = resolved.grouped();
            return resolved.condition();
        });
    }

    /** Where each value of the compiled condition came from, once the pass is bound. */
    List<String> sources() {
        return sources;
    }

    /** The number after the last colon of {@code FILE:THRESHOLD}, read as {@code FILE:COEFF} is; null for none. */
    private Float threshold() {
        return SteeringOptions.ownCoefficient(condition);
    }
}
