package dev.onnxsteer.importer;

import java.util.Locale;

/**
 * How the importer stores the weights of linear projections (q/k/v/o, gate/up/down, lm_head). Embeddings
 * and norm weights are float32 in every format (a Gather of blocks is not a standard op). With float
 * activations (the default) an 8-bit matrix is written as a 4-bit nibble pair over {@code Concat(x, x)}
 * ({@link dev.onnxsteer.quant.NibblePairs}), which holds the same values and runs on ONNX Runtime's fast 4-bit
 * kernel; with int8 activations it stays one 8-bit MatMulNBits.
 */
public enum WeightFormat {
    /** Dequantised to float32 MatMul weights. */
    F32,
    /**
     * 8-bit {@code com.microsoft.MatMulNBits}, block 32: Q8_0 blocks are copied bit for bit, anything else is
     * requantised symmetrically (scale = max|w| / 127).
     */
    INT8,
    /**
     * 4-bit {@code MatMulNBits}, block 32: Q4_0 blocks are copied bit for bit, anything else is requantised
     * with a scale and zero point per block (min/max over 15 levels).
     */
    INT4,
    /**
     * What the file holds: Q4_0 and Q8_0 copied bit for bit into 4- and 8-bit MatMulNBits; Q2_K, Q3_K, Q4_1,
     * Q4_K, IQ4_NL, IQ4_XS requantised to 4 bits and Q5_0, Q5_1, Q5_K, Q6_K to 8 bits (4 bits would lose more
     * than the file's own quantisation did); float types (F32, F16, BF16) as float32 MatMul weights.
     */
    KEEP;

    /** The lower-case name used on the command line. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
