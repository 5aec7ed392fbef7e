package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.Layouts;

/**
 * ONNX Runtime's fused normalisations emit the residual sum and its normalised form from one node:
 * {@code SkipLayerNormalization} and {@code SkipSimplifiedLayerNormalization} compute
 * {@code sum = input + skip (+ bias)} as output 3 and {@code normalize(sum)} as output 0 (what the next
 * sublayer reads); {@code EmbedLayerNormalization} has the embedding sum as output 2. Changing the sum
 * after such a node would miss the normalised copy, so steering and cutting act on the node's inputs.
 */
public final class FusedNorms {
    private static final String MS = "com.microsoft";

    private FusedNorms() {}

    /** True when {@code value} is the residual-sum output 3 of a com.microsoft Skip(Simplified)LayerNormalization. */
    public static boolean isSkipNormSum(Value value) {
        Node producer = value.producer();
        return producer != null && Layouts.isSkipNorm(producer) && value.outputIndex() == 3;
    }

    /** True when {@code value} is the embedding-sum output of a com.microsoft EmbedLayerNormalization. */
    public static boolean isEmbedLayerNormSum(Value value) {
        Node producer = value.producer();
        return producer != null && producer.domain().equals(MS)
                && producer.opType().equals("EmbedLayerNormalization") && value.outputIndex() == 2;
    }

    /** The input index of the optional bias of a skip norm (SkipSimplifiedLayerNormalization has no beta before it). */
    static int biasIndex(Node skipNorm) {
        return skipNorm.opType().equals("SkipSimplifiedLayerNormalization") ? 3 : 4;
    }

    /**
     * Makes the skip norm {@code fused} compute its outputs from {@code sum} alone: input 0 becomes
     * {@code sum}, the skip a zero of sum's own shape and type ({@code sum - sum}, so no constant of a
     * fixed element type is needed), the bias is dropped. Output 3 is then {@code sum} exactly and
     * output 0 its normalised form, with the node's own gamma, beta and epsilon.
     */
    static void computeFrom(Graph graph, Node fused, Value sum, String scope) {
        Value zero = graph.op("Sub").name(scope + "zero_skip/Sub").inputs(sum, sum).value();
        zero.setType(sum.type());
        fused.setInput(0, sum);
        fused.setInput(1, zero);
        int bias = biasIndex(fused);
        if (fused.inputCount() > bias && fused.input(bias) != null) {
            fused.setInput(bias, null);
        }
    }
}
