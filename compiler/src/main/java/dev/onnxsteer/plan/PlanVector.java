package dev.onnxsteer.plan;

import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
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
     * Reads a {@code .gguf} or {@code .safetensors} vector file, named by its path in messages.
     *
     * @param allowLarge accept vectors beyond the plausible norm ({@code VectorBounds})
     */
    public static PlanVector read(Path file, float coefficient, boolean allowLarge) {
        return new PlanVector(file.toString(), VectorFiles.read(file, allowLarge), coefficient);
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
