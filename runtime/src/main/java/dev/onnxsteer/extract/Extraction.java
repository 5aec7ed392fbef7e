package dev.onnxsteer.extract;

import dev.onnxsteer.vectors.SteeringVectors;
import java.util.Map;

/**
 * What an extraction produced.
 *
 * @param vectors one vector per captured layer, with metadata (see {@link Extractor})
 * @param layers  per layer: the norm of the raw vector and the typical activation norm
 * @param pairs   the number of pairs used
 * @param tokens  the number of prompt tokens run (both sides)
 */
public record Extraction(SteeringVectors vectors, Map<Integer, LayerStats> layers, int pairs, long tokens) {
    public Extraction {
        layers = Map.copyOf(layers);
    }

    /**
     * @param rawNorm        the L2 norm of the vector before {@code --normalize} (1 for the PCA methods)
     * @param activationNorm the mean L2 norm of the activations read at this layer: a coefficient of
     *                       {@code activationNorm / rawNorm} adds a vector as large as a typical activation
     */
    public record LayerStats(int layer, double rawNorm, double activationNorm) {}
}
