package dev.onnxsteer.passes;

import dev.onnxsteer.sites.SiteKind;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A CAST condition (Lee et al., "Programming Refusal with Conditional Activation Steering"): at each
 * condition layer L the prompt's hidden state h at {@code kind.L} (aggregated over the prompt's tokens)
 * is projected on the condition direction c, {@code p = tanh(P h)} with {@code P = c c^T / (c . c)}, and
 * the condition fires when {@code cos(h, p)} is above (or below) the threshold. With several layers it
 * fires when any layer fires.
 *
 * @param directions the condition vector by 0-based layer
 */
public record Condition(SiteKind kind, Map<Integer, float[]> directions, float threshold, Comparator comparator,
        Aggregate aggregate) {

    /** Which side of the threshold fires: {@code above} is activation-steering's threshold "smaller". */
    public enum Comparator {
        ABOVE, BELOW;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Comparator parse(String text) {
            for (Comparator c : values()) {
                if (c.label().equals(text)) {
                    return c;
                }
            }
            throw new IllegalArgumentException("condition comparator " + text + " is not above or below");
        }
    }

    /** How the prompt's positions become one hidden state: their mean, or the last prompt token's. */
    public enum Aggregate {
        MEAN, LAST;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Aggregate parse(String text) {
            for (Aggregate a : values()) {
                if (a.label().equals(text)) {
                    return a;
                }
            }
            throw new IllegalArgumentException("condition aggregate " + text + " is not mean or last");
        }
    }

    public Condition {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(comparator, "comparator");
        Objects.requireNonNull(aggregate, "aggregate");
        if (directions.isEmpty()) {
            throw new IllegalArgumentException("a condition needs a direction at one layer at least");
        }
        if (!Float.isFinite(threshold)) {
            throw new IllegalArgumentException("condition threshold is " + threshold + "; expected a finite number");
        }
        TreeMap<Integer, float[]> copy = new TreeMap<>();
        directions.forEach((layer, v) -> copy.put(layer, v.clone()));
        directions = Collections.unmodifiableMap(copy);
    }
}
