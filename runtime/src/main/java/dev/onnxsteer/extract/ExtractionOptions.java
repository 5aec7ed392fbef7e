package dev.onnxsteer.extract;

import dev.onnxsteer.capture.Position;
import java.util.Objects;

/**
 * How to extract.
 *
 * @param method    how pairs become a vector
 * @param position  which tokens of each prompt are read
 * @param normalize scale every vector to unit length (PCA vectors already are)
 * @param batchSize prompts per forward pass (a pair's two prompts count as two)
 */
public record ExtractionOptions(Method method, Position position, boolean normalize, int batchSize) {
    public ExtractionOptions {
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(position, "position");
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
    }
}
