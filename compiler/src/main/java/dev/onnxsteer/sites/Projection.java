package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;

/**
 * A linear projection that reads a sublayer input {@code x}: {@code node} computes
 * {@code x W (+ b)} with {@code weight} as {@code W} ({@code [in, out]}, or {@code [out, in]} when
 * {@code transposed}, as Gemm with transB = 1). {@code bias} is where {@code b} lives (an
 * {@code Add} after a MatMul, Gemm's C, the bias input of an ONNX Runtime {@code Attention},
 * {@code MatMulNBits} or {@code FastGelu}), or null when the projection has none (llama).
 *
 * <p>Because the projection is linear, adding {@code c*v} to {@code x} is the same as adding
 * {@code c*v*W} to its bias: the rule bias editing at a sublayer input rests on. For a quantized
 * projection {@code weight} is the stored, encoded initializer ({@code encoding} says how to read
 * it), so {@code W} is only known after dequantizing it.
 */
public record Projection(Node node, Value weight, boolean transposed, BiasSlot bias, Encoding encoding) {

    /** How {@code weight} stores {@code W}. */
    public enum Encoding {
        /** A float initializer {@code [in, out]} (or {@code [out, in]} when transposed). */
        FLOAT,
        /** {@code com.microsoft MatMulNBits}: packed blocks {@code [N, blocks, blob]}, attributes K and N. */
        MATMUL_NBITS,
        /** {@code MatMulInteger} of the activation's {@code DynamicQuantizeLinear}: an 8-bit {@code [in, out]} weight. */
        MATMUL_INTEGER,
        /** {@code MatMul} of a {@code DequantizeLinear}ed initializer (QDQ): the quantized {@code [in, out]} weight. */
        QDQ,
        /** {@code com.microsoft MatMulBnb4}: packed 4-bit blocks, attributes K and N. */
        BNB4
    }

    /** A float projection, as every projection was before quantized ones were recognised. */
    public Projection(Node node, Value weight, boolean transposed, BiasSlot bias) {
        this(node, weight, transposed, bias, Encoding.FLOAT);
    }

    /** The projection's output width ({@code W}'s columns). */
    public long outputSize() {
        return switch (encoding) {
            case MATMUL_NBITS, BNB4 -> node.intAttribute("N", -1);
            case FLOAT -> weight.initializer().dim(transposed ? 0 : 1);
            case MATMUL_INTEGER, QDQ -> weight.initializer().dim(1);
        };
    }

    public boolean hasBias() {
        return bias != null;
    }

    /** Whether {@code W} is stored quantized, so editing it means dequantizing and requantizing. */
    public boolean quantized() {
        return encoding != Encoding.FLOAT;
    }
}
