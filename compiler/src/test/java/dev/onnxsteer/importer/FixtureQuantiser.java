package dev.onnxsteer.importer;

import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.ir.HalfFloats;

/**
 * The test fixtures' own GGUF quantiser for Q4_0, Q8_0, Q4_K and Q6_K, written from the block layouts in ggml's
 * {@code ggml-common.h} (plain round-to-nearest with scales from each block's range, not llama-quantize's
 * search): the fixtures are then read by llama.cpp, which dequantises them with its own code, so a test that
 * compares our import with llama.cpp's logits on them is not circular.
 */
final class FixtureQuantiser {
    private FixtureQuantiser() {}

    /** The GGUF blocks of {@code data} (a whole number of blocks of the type) in {@code type}. */
    static byte[] quantise(float[] data, GgmlType type) {
        return switch (type) {
            case Q4_0 -> q4_0(data);
            case Q8_0 -> q8_0(data);
            case Q4_K -> q4_K(data);
            case Q6_K -> q6_K(data);
            default -> throw new IllegalArgumentException("the fixture quantiser writes Q4_0, Q8_0, Q4_K or Q6_K, not " + type);
        };
    }

    /**
     * Q4_0 blocks (18 bytes per 32 values): fp16 d = m / -8, m the value of largest magnitude with its sign (so m
     * itself is q = 0), then 16 bytes holding value i in the low nibble of byte i and value i + 16 in the high
     * nibble. Value = d * (q - 8), q in 0..15.
     */
    static byte[] q4_0(float[] data) {
        byte[] blocks = new byte[data.length / 32 * 18];
        for (int b = 0; b < data.length / 32; b++) {
            float extreme = 0;
            for (int i = 0; i < 32; i++) {
                float v = data[32 * b + i];
                extreme = Math.abs(v) > Math.abs(extreme) ? v : extreme;
            }
            float d = putHalf(blocks, 18 * b, extreme / -8);
            for (int i = 0; i < 32; i++) {
                int q = d == 0 ? 8 : Math.max(0, Math.min(15, Math.round(data[32 * b + i] / d) + 8));
                int at = 18 * b + 2 + i % 16;
                blocks[at] = (byte) (i < 16 ? (blocks[at] & 0xf0) | q : (blocks[at] & 0x0f) | q << 4);
            }
        }
        return blocks;
    }

    /** Q8_0 blocks: fp16 scale d = max|x| / 127 (little-endian), then 32 int8 values round(x / d). */
    static byte[] q8_0(float[] data) {
        byte[] blocks = new byte[data.length / 32 * 34];
        for (int b = 0; b < data.length / 32; b++) {
            float max = 0;
            for (int i = 0; i < 32; i++) {
                max = Math.max(max, Math.abs(data[32 * b + i]));
            }
            float d = putHalf(blocks, 34 * b, max / 127);
            for (int i = 0; i < 32; i++) {
                long q = d == 0 ? 0 : Math.round(data[32 * b + i] / d);
                blocks[34 * b + 2 + i] = (byte) Math.max(-127, Math.min(127, q));
            }
        }
        return blocks;
    }

    /**
     * block_q4_K (144 bytes per 256 values): fp16 d and dmin, eight 6-bit (scale, min) pairs packed into 12 bytes
     * as ggml's {@code get_scale_min_k4} unpacks them, then 128 bytes of nibbles (sub-blocks 2c and 2c + 1 in the
     * low and high nibbles of bytes 32c .. 32c + 31). Value = d * scale * q - dmin * min, q in 0..15.
     */
    static byte[] q4_K(float[] data) {
        int superBlocks = data.length / 256;
        byte[] out = new byte[superBlocks * 144];
        for (int s = 0; s < superBlocks; s++) {
            int base = 144 * s;
            float[] range = new float[8];
            float[] offset = new float[8];
            for (int j = 0; j < 8; j++) {
                float min = 0;
                float max = 0;
                for (int i = 0; i < 32; i++) {
                    float v = data[256 * s + 32 * j + i];
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
                range[j] = (max - min) / 15;
                offset[j] = -min;
            }
            float d = putHalf(out, base, max(range) / 63);
            float dmin = putHalf(out, base + 2, max(offset) / 63);
            int[] sc = new int[8];
            int[] mn = new int[8];
            for (int j = 0; j < 8; j++) {
                sc[j] = d == 0 ? 0 : Math.min(63, Math.round(range[j] / d));
                mn[j] = dmin == 0 ? 0 : Math.min(63, Math.round(offset[j] / dmin));
            }
            for (int j = 0; j < 4; j++) {
                out[base + 4 + j] = (byte) (sc[j] | (sc[j + 4] >> 4) << 6);
                out[base + 8 + j] = (byte) (mn[j] | (mn[j + 4] >> 4) << 6);
                out[base + 12 + j] = (byte) ((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
            }
            for (int j = 0; j < 8; j++) {
                float step = d * sc[j];
                float shift = dmin * mn[j];
                for (int i = 0; i < 32; i++) {
                    int q = step == 0 ? 0 : Math.max(0, Math.min(15, Math.round((data[256 * s + 32 * j + i] + shift) / step)));
                    int at = base + 16 + 32 * (j / 2) + i;
                    out[at] = (byte) (j % 2 == 0 ? (out[at] & 0xf0) | q : (out[at] & 0x0f) | q << 4);
                }
            }
        }
        return out;
    }

    /**
     * block_q6_K (210 bytes per 256 values): 128 bytes of low nibbles, 64 bytes of high bit pairs, 16 int8 scales
     * (one per 16 values), fp16 d. Value = d * scale * (q - 32), q in 0..63. In each half of 128 values, value
     * e = 32g + l has its low nibble in byte l (+32 when g is odd; the high nibble when g >= 2) and its high two
     * bits at bits 2g of byte l of the half's 32 high-bit bytes.
     */
    static byte[] q6_K(float[] data) {
        int superBlocks = data.length / 256;
        byte[] out = new byte[superBlocks * 210];
        for (int s = 0; s < superBlocks; s++) {
            int base = 210 * s;
            float[] scale = new float[16];
            for (int j = 0; j < 16; j++) {
                float max = 0;
                for (int i = 0; i < 16; i++) {
                    max = Math.max(max, Math.abs(data[256 * s + 16 * j + i]));
                }
                scale[j] = max / 31;
            }
            float d = putHalf(out, base + 208, max(scale) / 127);
            for (int j = 0; j < 16; j++) {
                int sc = d == 0 ? 0 : Math.min(127, Math.round(scale[j] / d));
                out[base + 192 + j] = (byte) sc;
                float step = d * sc;
                for (int i = 0; i < 16; i++) {
                    int e = 16 * j + i;
                    int q = step == 0 ? 32 : Math.max(0, Math.min(63, Math.round(data[256 * s + e] / step) + 32));
                    int half = e / 128;
                    int g = (e % 128) / 32;
                    int l = e % 32;
                    int low = base + 64 * half + l + (g % 2 == 1 ? 32 : 0);
                    out[low] = (byte) (g < 2 ? (out[low] & 0xf0) | (q & 15) : (out[low] & 0x0f) | (q & 15) << 4);
                    int high = base + 128 + 32 * half + l;
                    out[high] = (byte) (out[high] | (q >> 4) << (2 * g));
                }
            }
        }
        return out;
    }

    private static float max(float[] values) {
        float m = 0;
        for (float v : values) {
            m = Math.max(m, v);
        }
        return m;
    }

    /** Writes {@code value} as little-endian fp16 at {@code at}; the value as stored. */
    private static float putHalf(byte[] out, int at, float value) {
        short half = HalfFloats.toFloat16(value);
        out[at] = (byte) half;
        out[at + 1] = (byte) (half >> 8);
        return HalfFloats.fromFloat16(half);
    }
}
