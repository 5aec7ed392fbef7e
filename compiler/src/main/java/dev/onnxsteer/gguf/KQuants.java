package dev.onnxsteer.gguf;

import static dev.onnxsteer.ir.HalfFloats.fromFloat16;

import java.nio.ByteBuffer;

/**
 * Decoders for ggml's 256-element "K" super-block formats Q2_K, Q3_K, Q4_K, Q5_K and Q6_K, following the
 * reference {@code dequantize_row_*} of ggml-quants.c (layouts in ggml-common.h). A super-block holds an
 * fp16 scale (and for Q2_K, Q4_K, Q5_K an fp16 scale of the minimums) and 16 or 8 sub-block scales; the
 * arithmetic is float32 in llama.cpp's order, so the values are bit-identical to llama.cpp's.
 */
final class KQuants {
    private KQuants() {}

    /** block_q2_K: 16 scale bytes (low nibble scale, high nibble min), 64 bytes of 2-bit quants, fp16 d, fp16 dmin. */
    static int q2_K(ByteBuffer in, int blocks, float[] out, int pos) {
        for (int b = 0; b < blocks; b++) {
            int base = b * 84;
            int scales = base;
            int qs = base + 16;
            float d = fromFloat16(in.getShort(base + 80));
            float min = fromFloat16(in.getShort(base + 82));
            int is = 0;
            for (int half = 0; half < 2; half++) {
                int q = qs + 32 * half;
                for (int shift = 0; shift < 8; shift += 2) {
                    for (int part = 0; part < 2; part++) {
                        int sc = in.get(scales + is++) & 0xff;
                        float dl = d * (sc & 0x0f);
                        float ml = min * (sc >>> 4);
                        for (int l = 0; l < 16; l++) {
                            int v = ((in.get(q + 16 * part + l) & 0xff) >>> shift) & 3;
                            out[pos++] = dl * v - ml;
                        }
                    }
                }
            }
        }
        return pos;
    }

    /**
     * block_q3_K: 32 bytes of high bits, 64 bytes of low 2-bit quants, 12 bytes packing sixteen 6-bit scales
     * (offset by 32), fp16 d. A quant is its two low bits minus 4 where its high bit is clear.
     */
    static int q3_K(ByteBuffer in, int blocks, float[] out, int pos) {
        int[] scale = new int[16];
        for (int b = 0; b < blocks; b++) {
            int base = b * 110;
            int hmask = base;
            int qs = base + 32;
            unpackQ3Scales(in, base + 96, scale);
            float dAll = fromFloat16(in.getShort(base + 108));
            int is = 0;
            int m = 1;
            for (int half = 0; half < 2; half++) {
                int q = qs + 32 * half;
                for (int shift = 0; shift < 8; shift += 2) {
                    for (int part = 0; part < 2; part++) {
                        float dl = dAll * (scale[is++] - 32);
                        for (int l = 0; l < 16; l++) {
                            int i = 16 * part + l;
                            int low = ((in.get(q + i) & 0xff) >>> shift) & 3;
                            int high = (in.get(hmask + i) & m) != 0 ? 0 : 4;
                            out[pos++] = dl * (low - high);
                        }
                    }
                    m <<= 1;
                }
            }
        }
        return pos;
    }

    /**
     * The 12 scale bytes of Q3_K as sixteen 6-bit values: bytes 0-7 give the low nibbles (scale j in byte
     * j % 8, low nibble for j < 8, high for j >= 8), bytes 8-11 the two high bits (scale j in byte 8 + j % 4,
     * bit pair j / 4).
     */
    private static void unpackQ3Scales(ByteBuffer in, int at, int[] scale) {
        for (int j = 0; j < 16; j++) {
            int low = ((in.get(at + (j % 8)) & 0xff) >>> (j < 8 ? 0 : 4)) & 0x0f;
            int high = ((in.get(at + 8 + (j % 4)) & 0xff) >>> (2 * (j / 4))) & 3;
            scale[j] = low | (high << 4);
        }
    }

    /** block_q4_K: fp16 d, fp16 dmin, 12 bytes of eight 6-bit scale/min pairs, 128 bytes of nibbles. */
    static int q4_K(ByteBuffer in, int blocks, float[] out, int pos) {
        float[] dm = new float[4];
        for (int b = 0; b < blocks; b++) {
            int base = b * 144;
            int q = base + 16;
            for (int is = 0; is < 8; is += 2) {
                subBlockPair(in, base, is, dm);
                for (int l = 0; l < 32; l++) {
                    out[pos++] = dm[0] * (in.get(q + l) & 0x0f) - dm[1];
                }
                for (int l = 0; l < 32; l++) {
                    out[pos++] = dm[2] * ((in.get(q + l) & 0xff) >>> 4) - dm[3];
                }
                q += 32;
            }
        }
        return pos;
    }

    /** block_q5_K: fp16 d, fp16 dmin, 12 scale bytes as Q4_K, 32 bytes of fifth bits, 128 bytes of nibbles. */
    static int q5_K(ByteBuffer in, int blocks, float[] out, int pos) {
        float[] dm = new float[4];
        for (int b = 0; b < blocks; b++) {
            int base = b * 176;
            int qh = base + 16;
            int ql = base + 48;
            int u1 = 1;
            int u2 = 2;
            for (int is = 0; is < 8; is += 2) {
                subBlockPair(in, base, is, dm);
                for (int l = 0; l < 32; l++) {
                    int high = (in.get(qh + l) & u1) != 0 ? 16 : 0;
                    out[pos++] = dm[0] * ((in.get(ql + l) & 0x0f) + high) - dm[1];
                }
                for (int l = 0; l < 32; l++) {
                    int high = (in.get(qh + l) & u2) != 0 ? 16 : 0;
                    out[pos++] = dm[2] * (((in.get(ql + l) & 0xff) >>> 4) + high) - dm[3];
                }
                ql += 32;
                u1 <<= 2;
                u2 <<= 2;
            }
        }
        return pos;
    }

    /**
     * The scale and min of sub-blocks {@code is} and {@code is + 1} of the Q4_K/Q5_K super-block at {@code
     * base} (fp16 d and dmin, then the 12 packed scale bytes), as {d1, m1, d2, m2} = {d * scale, dmin * min}.
     */
    private static void subBlockPair(ByteBuffer in, int base, int is, float[] dm) {
        float d = fromFloat16(in.getShort(base));
        float min = fromFloat16(in.getShort(base + 2));
        int[] sm = new int[2];
        scaleMinK4(in, base + 4, is, sm);
        dm[0] = d * sm[0];
        dm[1] = min * sm[1];
        scaleMinK4(in, base + 4, is + 1, sm);
        dm[2] = d * sm[0];
        dm[3] = min * sm[1];
    }

    /**
     * Sub-block {@code j}'s 6-bit scale and min from the 12 packed bytes of Q4_K/Q5_K (ggml's
     * {@code get_scale_min_k4}): for j < 4 the low six bits of bytes j and j + 4; otherwise a nibble of byte
     * j + 4 with the top two bits of bytes j - 4 and j.
     */
    private static void scaleMinK4(ByteBuffer in, int at, int j, int[] scaleMin) {
        if (j < 4) {
            scaleMin[0] = in.get(at + j) & 63;
            scaleMin[1] = in.get(at + j + 4) & 63;
        } else {
            int packed = in.get(at + j + 4) & 0xff;
            scaleMin[0] = (packed & 0x0f) | (((in.get(at + j - 4) & 0xff) >>> 6) << 4);
            scaleMin[1] = (packed >>> 4) | (((in.get(at + j) & 0xff) >>> 6) << 4);
        }
    }

    /** block_q6_K: 128 bytes of low nibbles, 64 bytes of high bit pairs, 16 int8 scales, fp16 d; value = d * scale * (q - 32). */
    static int q6_K(ByteBuffer in, int blocks, float[] out, int pos) {
        for (int b = 0; b < blocks; b++) {
            int base = b * 210;
            float d = fromFloat16(in.getShort(base + 208));
            for (int half = 0; half < 2; half++) {
                int ql = base + 64 * half;
                int qh = base + 128 + 32 * half;
                int sc = base + 192 + 8 * half;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int low0 = in.get(ql + l) & 0xff;
                    int low32 = in.get(ql + l + 32) & 0xff;
                    int high = in.get(qh + l) & 0xff;
                    int q1 = ((low0 & 0x0f) | ((high & 3) << 4)) - 32;
                    int q2 = ((low32 & 0x0f) | (((high >>> 2) & 3) << 4)) - 32;
                    int q3 = ((low0 >>> 4) | (((high >>> 4) & 3) << 4)) - 32;
                    int q4 = ((low32 >>> 4) | (((high >>> 6) & 3) << 4)) - 32;
                    out[pos + l] = d * in.get(sc + is) * q1;
                    out[pos + l + 32] = d * in.get(sc + is + 2) * q2;
                    out[pos + l + 64] = d * in.get(sc + is + 4) * q3;
                    out[pos + l + 96] = d * in.get(sc + is + 6) * q4;
                }
                pos += 128;
            }
        }
        return pos;
    }
}
