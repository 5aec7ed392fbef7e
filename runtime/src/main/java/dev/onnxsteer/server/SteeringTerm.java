package dev.onnxsteer.server;

import java.util.Objects;

/**
 * One entry of a request's {@code steering} list: add {@code scale} times the registered vector
 * {@code vector} (a name from {@link VectorRegistry}, never a path).
 */
public record SteeringTerm(String vector, float scale) {
    public SteeringTerm {
        Objects.requireNonNull(vector, "vector");
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("scale of " + vector + " is " + scale + "; expected a finite number");
        }
    }
}
