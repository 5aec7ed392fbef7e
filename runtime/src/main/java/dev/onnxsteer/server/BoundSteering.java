package dev.onnxsteer.server;

import java.util.List;
import java.util.Objects;

/**
 * One request's steering together with the vectors it was admitted with: the registry as it was
 * when the request arrived, so deleting or uploading a vector later never changes a request in
 * flight.
 */
public record BoundSteering(List<SteeringTerm> terms, VectorRegistry vectors) {
    public BoundSteering {
        terms = List.copyOf(terms);
        Objects.requireNonNull(vectors, "vectors");
    }
}
