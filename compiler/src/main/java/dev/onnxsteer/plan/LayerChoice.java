package dev.onnxsteer.plan;

import java.util.Collections;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Layers a user chose explicitly (CLI {@code --layers}, a request's {@code layers: [FIRST, LAST]}),
 * with the words messages use for the choice.
 *
 * @param source where the choice was made, e.g. {@code --layers} or {@code layers}
 * @param text   what the user wrote there, e.g. {@code 1-3} or {@code [1, 3]}
 */
public record LayerChoice(SortedSet<Integer> layers, String source, String text) {
    public LayerChoice {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException(source + " " + text + " chooses no layer");
        }
        layers = Collections.unmodifiableSortedSet(new TreeSet<>(layers));
    }

    /** {@code first..last} inclusive, labelled {@code layers [first, last]}. */
    public static LayerChoice range(int first, int last) {
        if (first < 0 || last < first) {
            throw new IllegalArgumentException("layers [" + first + ", " + last + "] must satisfy 0 <= FIRST <= LAST");
        }
        SortedSet<Integer> layers = new TreeSet<>();
        for (int layer = first; layer <= last; layer++) {
            layers.add(layer);
        }
        return new LayerChoice(layers, "layers", "[" + first + ", " + last + "]");
    }

    /** How messages name the choice: {@code --layers 1-3}, {@code layers [1, 3]}. */
    public String label() {
        return source + " " + text;
    }
}
