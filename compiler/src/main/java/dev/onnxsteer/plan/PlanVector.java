package dev.onnxsteer.plan;

import dev.onnxsteer.vectors.SteeringVectors;
import java.util.Objects;

/**
 * One vector file of a {@link SteeringPlan}: its vectors and its own coefficient ({@code FILE:C} on
 * the command line, {@code scale} in a server request).
 *
 * @param name how messages name it (a path, or a registered vector's name)
 */
public record PlanVector(String name, SteeringVectors vectors, float coefficient) {
    public PlanVector {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(vectors, "vectors");
        if (!Float.isFinite(coefficient)) {
            throw new IllegalArgumentException("coefficient of " + name + " is " + coefficient + "; expected a finite number");
        }
    }

    /**
     * The file's vector at {@code layer}, or null; with {@code spread} (the layers were chosen, see
     * {@link SteeringPlan}) a file of one layer has its vector at every layer.
     */
    float[] at(int layer, boolean spread) {
        if (vectors.hasLayer(layer)) {
            return vectors.layer(layer);
        }
        return spread && vectors.layerIndices().size() == 1 ? vectors.layer(vectors.layerIndices().first()) : null;
    }
}
