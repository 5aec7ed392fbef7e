package dev.onnxsteer.server;

import java.util.Objects;

/**
 * One entry of a request's {@code steering} list: add {@code scale} times the registered vector
 * {@code vector} (a name from {@link VectorRegistry}, never a path), optionally only at the layers
 * {@code fromLayer..toLayer} (inclusive; llama.cpp's {@code --control-vector-layer-range}). With a
 * range, a vector file of one layer is added at every layer of the range (as {@code generate --vector
 * FILE --layers A-B} does); a file of several layers keeps only its layers inside the range.
 *
 * @param fromLayer first layer of the range, or {@link #ALL_LAYERS} for the vector's own layers
 * @param toLayer   last layer of the range, or {@link #ALL_LAYERS}
 */
public record SteeringTerm(String vector, float scale, int fromLayer, int toLayer) {
    public static final int ALL_LAYERS = -1;

    public SteeringTerm {
        Objects.requireNonNull(vector, "vector");
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("scale of " + vector + " is " + scale + "; expected a finite number");
        }
        if ((fromLayer == ALL_LAYERS) != (toLayer == ALL_LAYERS) || (fromLayer != ALL_LAYERS
                && (fromLayer < 0 || toLayer < fromLayer))) {
            throw new IllegalArgumentException("layer range of " + vector + " is [" + fromLayer + ", " + toLayer
                    + "]; expected 0 <= first <= last");
        }
    }

    /** The vector's own layers. */
    public SteeringTerm(String vector, float scale) {
        this(vector, scale, ALL_LAYERS, ALL_LAYERS);
    }

    public boolean hasRange() {
        return fromLayer != ALL_LAYERS;
    }

    /**
     * The vector {@code entry} contributes at {@code layer} of its site kind under this term, or null.
     */
    float[] vectorAt(VectorRegistry.Entry entry, int layer) {
        if (!hasRange()) {
            return entry.vectors().hasLayer(layer) ? entry.vectors().layer(layer) : null;
        }
        if (layer < fromLayer || layer > toLayer) {
            return null;
        }
        if (entry.vectors().hasLayer(layer)) {
            return entry.vectors().layer(layer);
        }
        return entry.vectors().layerIndices().size() == 1 ? entry.vectors().layer(entry.vectors().layerIndices().first())
                : null;
    }
}
