package dev.onnxsteer.vectors;

import dev.onnxsteer.BadVectorException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * What a condition vector file says about how to use it, in its metadata: per layer the threshold and
 * comparator that separated the prompts it was measured on ({@code condition.threshold.L},
 * {@code condition.comparator.L}), and one chosen setting ({@code condition.layer},
 * {@code condition.threshold}, {@code condition.comparator}, {@code condition.aggregate},
 * {@code condition.chosen_by}: {@code extract} from the training prompts' gap, {@code sweep} from held-out
 * F1). Files written before the chosen setting existed have only the per-layer keys, or none.
 */
public final class ConditionMetadata {
    private ConditionMetadata() {}

    public static final String MARKER = "condition";
    private static final String LAYER = "condition.layer";
    private static final String THRESHOLD = "condition.threshold";
    private static final String COMPARATOR = "condition.comparator";
    private static final String AGGREGATE = "condition.aggregate";
    private static final String CHOSEN_BY = "condition.chosen_by";

    /** The setting a file recommends. */
    public record Choice(int layer, float threshold, String comparator, String aggregate, String chosenBy) {}

    /** One layer's separating threshold and comparator. */
    public record LayerSetting(float threshold, String comparator) {}

    public static VectorMetadata withLayer(VectorMetadata metadata, int layer, double threshold, String comparator) {
        return metadata.withExtra(MARKER, "true").withExtra(THRESHOLD + "." + layer, number(threshold))
                .withExtra(COMPARATOR + "." + layer, comparator);
    }

    public static VectorMetadata withChoice(VectorMetadata metadata, int layer, double threshold, String comparator,
            String aggregate, String chosenBy) {
        return metadata.withExtra(MARKER, "true").withExtra(LAYER, Integer.toString(layer))
                .withExtra(THRESHOLD, number(threshold)).withExtra(COMPARATOR, comparator)
                .withExtra(AGGREGATE, aggregate).withExtra(CHOSEN_BY, chosenBy);
    }

    /** The file's chosen setting, if it records a complete one. */
    public static Optional<Choice> choice(VectorMetadata metadata) {
        Map<String, String> extra = metadata.extra();
        if (!extra.containsKey(LAYER) || !extra.containsKey(THRESHOLD) || !extra.containsKey(COMPARATOR)
                || !extra.containsKey(AGGREGATE)) {
            return Optional.empty();
        }
        return Optional.of(new Choice(parseLayer(extra.get(LAYER)), parseThreshold(THRESHOLD, extra.get(THRESHOLD)),
                extra.get(COMPARATOR), extra.get(AGGREGATE), extra.getOrDefault(CHOSEN_BY, "unknown")));
    }

    /** Layer {@code layer}'s threshold and comparator, if the file records them. */
    public static Optional<LayerSetting> at(VectorMetadata metadata, int layer) {
        String threshold = metadata.extra().get(THRESHOLD + "." + layer);
        String comparator = metadata.extra().get(COMPARATOR + "." + layer);
        if (threshold == null || comparator == null) {
            return Optional.empty();
        }
        return Optional.of(new LayerSetting(parseThreshold(THRESHOLD + "." + layer, threshold), comparator));
    }

    /** Four significant digits without trailing zeros, as the files and the tables print it. */
    public static String number(double value) {
        String text = String.format(Locale.ROOT, "%.4g", value);
        if (text.contains(".") && !text.contains("e")) {
            text = text.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return text;
    }

    private static int parseLayer(String text) {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new BadVectorException("vector file metadata " + LAYER + " is " + text + "; expected a layer number");
        }
    }

    private static float parseThreshold(String key, String text) {
        try {
            float value = Float.parseFloat(text);
            if (Float.isFinite(value)) {
                return value;
            }
        } catch (NumberFormatException e) {
            // fall through to the one message below
        }
        throw new BadVectorException("vector file metadata " + key + " is " + text + "; expected a finite number");
    }
}
