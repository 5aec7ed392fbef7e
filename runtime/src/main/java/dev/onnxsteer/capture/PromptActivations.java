package dev.onnxsteer.capture;

import java.util.List;

/**
 * The activations of one prompt at the captured sites.
 *
 * @param tokens  the prompt's length in tokens (padding excluded)
 * @param samples per captured layer (in {@link ActivationCapture#layers()} order) the activations read at
 *                the requested positions: one row for {@link Position#LAST} and {@link Position#MEAN}, one
 *                row per token for {@link Position#ALL}; each row has the hidden size
 */
public record PromptActivations(int tokens, List<float[][]> samples) {
    public PromptActivations {
        samples = List.copyOf(samples);
    }

    /** The rows read at layer index {@code index} of {@link ActivationCapture#layers()} (not the layer number). */
    public float[][] at(int index) {
        return samples.get(index);
    }
}
