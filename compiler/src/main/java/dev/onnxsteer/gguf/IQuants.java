package dev.onnxsteer.gguf;

import static dev.onnxsteer.ir.HalfFloats.fromFloat16;

import java.nio.ByteBuffer;

/**
 * Decoders for ggml's non-linear 4-bit formats IQ4_NL (32-element blocks) and IQ4_XS (256-element
 * super-blocks with 6-bit sub-block scales), following the reference {@code dequantize_row_iq4_*} of
 * ggml-quants.c: each nibble indexes a fixed table of 16 levels, nibbles packed as in Q4_0.
 */
final class IQuants {
    private IQuants() {}

    /** ggml's {@code kvalues_iq4nl}: the 16 levels a 4-bit IQ4 index selects. */
    private static final int[] LEVELS = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    /** block_iq4_nl: fp16 d, 16 bytes of nibbles; value = d * LEVELS[q]. */
    static int iq4_nl(ByteBuffer in, int blocks, float[] out, int pos) {
        for (int b = 0; b < blocks; b++) {
            int base = b * 18;
            float d = fromFloat16(in.getShort(base));
            pos = levels(in, base + 2, d, out, pos);
        }
        return pos;
    }

    /**
     * block_iq4_xs: fp16 d, uint16 of high scale bits, 4 bytes of low scale nibbles, 128 bytes of nibbles;
     * sub-block {@code ib}'s scale is {@code d * (ls - 32)} with a 6-bit {@code ls}.
     */
    static int iq4_xs(ByteBuffer in, int blocks, float[] out, int pos) {
        for (int b = 0; b < blocks; b++) {
            int base = b * 136;
            float d = fromFloat16(in.getShort(base));
            int scalesHigh = in.getShort(base + 2) & 0xffff;
            for (int ib = 0; ib < 8; ib++) {
                int low = ((in.get(base + 4 + ib / 2) & 0xff) >>> (4 * (ib % 2))) & 0x0f;
                int ls = low | (((scalesHigh >>> (2 * ib)) & 3) << 4);
                float dl = d * (ls - 32);
                pos = levels(in, base + 8 + 16 * ib, dl, out, pos);
            }
        }
        return pos;
    }

    /** 32 values from 16 bytes of level indices at {@code at}, low nibbles first. */
    private static int levels(ByteBuffer in, int at, float scale, float[] out, int pos) {
        for (int j = 0; j < 16; j++) {
            int q = in.get(at + j) & 0xff;
            out[pos + j] = scale * LEVELS[q & 0x0f];
            out[pos + j + 16] = scale * LEVELS[q >>> 4];
        }
        return pos + 32;
    }
}
