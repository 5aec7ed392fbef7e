package dev.onnxsteer.extract;

import java.util.Objects;

/**
 * One contrastive pair: two texts that differ in the concept to extract.
 *
 * @param positive the text on the side the vector should point towards (prefix already applied)
 * @param negative the text on the other side
 * @param origin   where the pair came from in messages, e.g. {@code happy-sad.jsonl line 4}
 */
public record ContrastivePair(String positive, String negative, String origin) {
    public ContrastivePair {
        Objects.requireNonNull(positive, "positive");
        Objects.requireNonNull(negative, "negative");
        Objects.requireNonNull(origin, "origin");
        if (positive.isEmpty()) {
            throw new IllegalArgumentException(origin + ": the positive side is empty");
        }
        if (negative.isEmpty()) {
            throw new IllegalArgumentException(origin + ": the negative side is empty");
        }
    }
}
