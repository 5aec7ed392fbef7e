package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;

/**
 * ONNX Runtime's fused normalisations emit the residual sum and its normalised form from one node
 * ({@code SkipLayerNormalization} output 3 and output 0; {@code EmbedLayerNormalization} output 2
 * and output 0). Changing the sum after such a node would miss the normalised copy, so steering
 * and cutting must act on the node's inputs instead.
 */
public final class FusedNorms {
    private FusedNorms() {}

    /** True when {@code value} is the residual-sum output of a com.microsoft SkipLayerNormalization. */
    public static boolean isSkipLayerNormSum(Value value) {
        Node producer = value.producer();
        return producer != null && producer.domain().equals("com.microsoft")
                && producer.opType().equals("SkipLayerNormalization") && value.outputIndex() == 3;
    }

    /** True when {@code value} is the embedding-sum output of a com.microsoft EmbedLayerNormalization. */
    public static boolean isEmbedLayerNormSum(Value value) {
        Node producer = value.producer();
        return producer != null && producer.domain().equals("com.microsoft")
                && producer.opType().equals("EmbedLayerNormalization") && value.outputIndex() == 2;
    }
}
