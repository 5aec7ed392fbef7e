package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;

/**
 * A linear projection that reads a sublayer input {@code x}: {@code node} computes
 * {@code x W (+ b)} with {@code weight} as {@code W} ({@code [in, out]}, or {@code [out, in]} when
 * {@code transposed}, as Gemm with transB = 1). {@code bias} is where {@code b} lives (an
 * {@code Add} after a MatMul, Gemm's C, the bias input of an ONNX Runtime {@code Attention} or
 * {@code FastGelu}), or null when the projection has none (llama).
 *
 * <p>Because the projection is linear, adding {@code c*v} to {@code x} is the same as adding
 * {@code c*v*W} to its bias: the rule bias editing at a sublayer input rests on.
 */
public record Projection(Node node, Value weight, boolean transposed, BiasSlot bias) {

    /** The projection's output width ({@code W}'s columns). */
    public long outputSize() {
        return weight.initializer().dim(transposed ? 0 : 1);
    }

    public boolean hasBias() {
        return bias != null;
    }
}
