package dev.onnxsteer.cli;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.Condition;
import dev.onnxsteer.passes.ConditionPass;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.sites.SiteNames;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import picocli.CommandLine.Option;

/** compile's conditional-steering options (CAST): the steering applies only to rows whose prompt meets the condition. */
final class ConditionOptions {
    @Option(names = "--condition", paramLabel = "FILE[:THRESHOLD]",
            description = {"Gate the steering with a condition vector file (CAST): per row, the prompt's hidden state h "
                    + "at the condition layers is compared with its projection tanh(P h) on the direction; the row is "
                    + "steered when cos(h, tanh(P h)) is above THRESHOLD (default 0).",
                    "The decision is made at the prompt and kept for the whole generation (graph state "
                    + "steer_condition_past/present, fed back like the KV cache)."})
    String condition;

    @Option(names = "--condition-layers", paramLabel = "2,3|1-4|all",
            description = "Layers the condition is read at (default: the condition file's layers); several fire when any does.")
    String layers;

    @Option(names = "--condition-comparator", paramLabel = "above|below", defaultValue = "above",
            description = "Fire when the similarity is above (default) or below the threshold.")
    String comparator;

    @Option(names = "--condition-aggregate", paramLabel = "mean|last", defaultValue = "mean",
            description = "Read the mean over the prompt's tokens (default) or the last prompt token.")
    String aggregate;

    boolean present() {
        return condition != null;
    }

    /** The condition file named by {@code --condition}, without its threshold. */
    Path file() {
        return Path.of(threshold() == null ? condition : condition.substring(0, condition.lastIndexOf(':')));
    }

    /** The pass that gates the steering; the options are checked here, the file read when the model's sites are known. */
    ConditionPass pass(boolean allowLarge) {
        Condition.Comparator parsedComparator = Condition.Comparator.parse(comparator);
        Condition.Aggregate parsedAggregate = Condition.Aggregate.parse(aggregate);
        Float threshold = threshold();
        return new ConditionPass(sites -> condition(sites, VectorFiles.read(file(), allowLarge), parsedComparator,
                parsedAggregate, threshold == null ? 0f : threshold));
    }

    private Condition condition(SiteMap sites, SteeringVectors vectors, Condition.Comparator parsedComparator,
            Condition.Aggregate parsedAggregate, float threshold) {
        Map<Integer, float[]> directions = new TreeMap<>();
        if (layers == null) {
            directions.putAll(vectors.layers());
        } else {
            for (int layer : LayerSelection.parse(layers, sites.layerCount())) {
                if (vectors.hasLayer(layer)) {
                    directions.put(layer, vectors.layer(layer));
                } else if (vectors.layerIndices().size() == 1) {
                    directions.put(layer, vectors.layer(vectors.layerIndices().first()));
                } else {
                    throw new BadVectorException("--condition-layers " + layers + " chooses layer " + layer + " but "
                            + vectors.source() + " has layers " + vectors.layerIndices());
                }
            }
        }
        return new Condition(SiteNames.parse(vectors.metadata().site()).kind(), directions, threshold, parsedComparator,
                parsedAggregate);
    }

    /** The number after the last colon of {@code FILE:THRESHOLD}, read as {@code FILE:COEFF} is; null for none. */
    private Float threshold() {
        return SteeringOptions.ownCoefficient(condition);
    }
}
