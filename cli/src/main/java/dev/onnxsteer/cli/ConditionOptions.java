package dev.onnxsteer.cli;

import dev.onnxsteer.passes.Condition;
import dev.onnxsteer.passes.ConditionPass;
import dev.onnxsteer.passes.ConditionRule;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * compile's conditional-steering options (CAST): the steering applies only to rows whose prompt meets the
 * condition, or with several {@code --condition}s, meets them as {@code --condition-rule} combines them.
 */
final class ConditionOptions {
    @Option(names = "--condition", paramLabel = "FILE[:THRESHOLD]",
            description = {"Gate the steering with a condition vector file (CAST): per row, the prompt's hidden state h "
                    + "at the condition layers is compared with its projection tanh(P h) on the direction; the row is "
                    + "steered when cos(h, tanh(P h)) is above (or below) THRESHOLD. Repeat for several conditions.",
                    "Layers, threshold, comparator and aggregate not given as flags come from the file's metadata "
                            + "(written by sweep --condition or extract --condition), else default to every layer of "
                            + "the file, 0, above and mean.",
                    "The decision is made at the prompt and kept for the whole generation (graph state "
                    + "steer_condition_past/present, fed back like the KV cache)."})
    List<String> conditions = new ArrayList<>();

    @Option(names = "--condition-layers", paramLabel = "2,3|1-4|all",
            description = "Layers the condition is read at (default: the file's chosen layer, else all its layers); "
                    + "several fire when any does. Once for every condition, or once per --condition in order.")
    List<String> layers = new ArrayList<>();

    @Option(names = "--condition-comparator", paramLabel = "above|below",
            description = "Fire when the similarity is above or below the threshold (default: the file's, else above). "
                    + "Once for every condition, or once per --condition.")
    List<String> comparators = new ArrayList<>();

    @Option(names = "--condition-aggregate", paramLabel = "mean|last",
            description = "Read the mean over the prompt's tokens or the last prompt token (default: the file's, else "
                    + "mean). Once for every condition, or once per --condition.")
    List<String> aggregates = new ArrayList<>();

    @Option(names = "--condition-rule", paramLabel = "or|and", defaultValue = "or",
            description = "With several --condition: steer a row when any fires (or, the default) or when all do (and).")
    String rule;

    private final List<List<String>> sources = new ArrayList<>();

    boolean present() {
        return !conditions.isEmpty();
    }

    /** The condition files named by {@code --condition}, without their thresholds. */
    List<Path> files() {
        List<Path> files = new ArrayList<>();
        for (String spec : conditions) {
            files.add(file(spec));
        }
        return files;
    }

    /** The pass that gates the steering; the options are checked here, the files read when the model's sites are known. */
    ConditionPass pass(boolean allowLarge) {
        ConditionRule parsedRule = ConditionRule.parse(rule);
        List<ConditionSettings> settings = new ArrayList<>();
        for (int i = 0; i < conditions.size(); i++) {
            String comparator = nth("--condition-comparator", comparators, i);
            String aggregate = nth("--condition-aggregate", aggregates, i);
            if (comparator != null) {
                Condition.Comparator.parse(comparator);
            }
            if (aggregate != null) {
                Condition.Aggregate.parse(aggregate);
            }
            settings.add(new ConditionSettings(file(conditions.get(i)), SteeringOptions.ownCoefficient(conditions.get(i)),
                    nth("--condition-layers", layers, i), comparator, aggregate));
        }
        return new ConditionPass(sites -> {
            List<Condition> resolved = new ArrayList<>();
            sources.clear();
            for (ConditionSettings s : settings) {
                ConditionSettings.Resolved r = s.resolve(sites, VectorFiles.read(s.file(), allowLarge));
                resolved.add(r.condition());
                sources.add(r.grouped());
            }
            return resolved;
        }, parsedRule);
    }

    /** Where each value of condition {@code index} came from, once the pass is bound. */
    List<String> sources(int index) {
        return sources.get(index);
    }

    /** The flag's value for condition {@code index}: none, one for all, or one per condition. */
    private String nth(String flag, List<String> values, int index) {
        if (values.isEmpty()) {
            return null;
        }
        if (values.size() == 1) {
            return values.get(0);
        }
        if (values.size() != conditions.size()) {
            throw new IllegalArgumentException(flag + " is given " + values.size() + " times for " + conditions.size()
                    + " --condition files; give it once for all of them or once per --condition");
        }
        return values.get(index);
    }

    /** {@code FILE[:THRESHOLD]} without its threshold, read as {@code FILE:COEFF} is. */
    private static Path file(String spec) {
        return Path.of(SteeringOptions.ownCoefficient(spec) == null ? spec : spec.substring(0, spec.lastIndexOf(':')));
    }
}
