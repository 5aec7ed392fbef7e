package dev.onnxsteer.gguf;

import static dev.onnxsteer.ir.HalfFloats.fromFloat16;

import java.nio.ByteBuffer;

/**
 * Decoders for ggml's 32-element block formats Q4_0, Q4_1, Q5_0 and Q5_1, following the reference
 * {@code dequantize_row_*} of ggml-quants.c: byte {@code j} of {@code qs} holds element {@code j} in its low
 * nibble and element {@code j + 16} in its high nibble; Q5 types keep the fifth bit of element {@code i} in
 * bit {@code i} of the little-endian uint32 {@code qh}. The arithmetic is float32, in llama.cpp's order, so
 * the values are bit-identical to llama.cpp's.
 */
final class LegacyQuants {
    private LegacyQuants() {}

    /** block_q4_0: fp16 d, 16 bytes of nibbles; value = (q - 8) * d. */
    static int q4_0(ByteBuffer in, int blocks, float[] out, int pos) {
        for (int b = 0; b < blocks; b++) {
            int base = b * 18;
            float d = fromFloat16(in.getShort(base));
            for (int j = 0; j < 16; j++) {
                int q = in.get(base + 2 + j) & 0xff;
                out[pos + j] = ((q & 0x0f) - 8) * d;
                out[pos + j + 16] = ((q >>> 4) - 8) * d;
            }
            pos += 32;
        }
        return pos;
    }

    /** block_q4_1: fp16 d, fp16 m, 16 bytes of nibbles; value = q * d + m. */
    static int q4_1(ByteBuffer in, int blocks, float[] out, int pos) {
        for (int b = 0; b < blocks; b++) {
            int base = b * 20;
            float d = fromFloat16(in.getShort(base));
            float m = fromFloat16(in.getShort(base + 2));
            for (int j = 0; j < 16; j++) {
                int q = in.get(base + 4 + j) & 0xff;
                out[pos + j] = (q & 0x0f) * d + m;
                out[pos + j + 16] = (q >>> 4) * d + m;
            }
            pos += 32;
        }
        return pos;
    }

    /** block_q5_0: fp16 d, uint32 qh, 16 bytes of nibbles; value = (q - 16) * d. */
    static int q5_0(ByteBuffer in, int blocks, float[] out, int pos) {
        for (int b = 0; b < blocks; b++) {
            int base = b * 22;
            float d = fromFloat16(in.getShort(base));
            int qh = in.getInt(base + 2);
            for (int j = 0; j < 16; j++) {
                int q = in.get(base + 6 + j) & 0xff;
                int high0 = ((qh >>> j) << 4) & 0x10;
                int high1 = (qh >>> (j + 12)) & 0x10;
                out[pos + j] = (((q & 0x0f) | high0) - 16) * d;
                out[pos + j + 16] = (((q >>> 4) | high1) - 16) * d;
            }
            pos += 32;
        }
        return pos;
    }

    /** block_q5_1: fp16 d, fp16 m, uint32 qh, 16 bytes of nibbles; value = q * d + m. */
    static int q5_1(ByteBuffer in, int blocks, float[] out, int pos) {
        for (int b = 0; b < blocks; b++) {
            int base = b * 24;
            float d = fromFloat16(in.getShort(base));
            float m = fromFloat16(in.getShort(base + 2));
            int qh = in.getInt(base + 4);
            for (int j = 0; j < 16; j++) {
                int q = in.get(base + 8 + j) & 0xff;
                int high0 = ((qh >>> j) << 4) & 0x10;
                int high1 = (qh >>> (j + 12)) & 0x10;
                out[pos + j] = ((q & 0x0f) | high0) * d + m;
                out[pos + j + 16] = ((q >>> 4) | high1) * d + m;
            }
            pos += 32;
        }
        return pos;
    }
}
