package dev.onnxsteer.gguf;

import java.nio.ByteBuffer;

/** Decoders from ggml block formats to float32; the half-precision decoder also serves safetensors F16. */
public final class Dequantise {
    private Dequantise() {}

    /** Decodes {@code blocks} blocks of {@code type} from {@code in} into {@code out} at {@code pos}; returns the next position. */
    static int decode(GgmlType type, ByteBuffer in, int blocks, float[] out, int pos) {
        switch (type) {
            case F32 -> {
                in.asFloatBuffer().get(out, pos, blocks);
                return pos + blocks;
            }
            case F16 -> {
                for (int i = 0; i < blocks; i++) {
                    out[pos++] = halfToFloat(in.getShort(2 * i));
                }
                return pos;
            }
            case BF16 -> {
                for (int i = 0; i < blocks; i++) {
                    out[pos++] = Float.intBitsToFloat((in.getShort(2 * i) & 0xffff) << 16);
                }
                return pos;
            }
            case Q8_0 -> {
                // block_q8_0: fp16 scale d, then 32 int8 quants; value = d * q
                for (int b = 0; b < blocks; b++) {
                    int base = b * 34;
                    float d = halfToFloat(in.getShort(base));
                    for (int j = 0; j < 32; j++) {
                        out[pos++] = d * in.get(base + 2 + j);
                    }
                }
                return pos;
            }
            case Q4_0 -> {
                return LegacyQuants.q4_0(in, blocks, out, pos);
            }
            case Q4_1 -> {
                return LegacyQuants.q4_1(in, blocks, out, pos);
            }
            case Q5_0 -> {
                return LegacyQuants.q5_0(in, blocks, out, pos);
            }
            case Q5_1 -> {
                return LegacyQuants.q5_1(in, blocks, out, pos);
            }
            case Q2_K -> {
                return KQuants.q2_K(in, blocks, out, pos);
            }
            case Q3_K -> {
                return KQuants.q3_K(in, blocks, out, pos);
            }
            case Q4_K -> {
                return KQuants.q4_K(in, blocks, out, pos);
            }
            case Q5_K -> {
                return KQuants.q5_K(in, blocks, out, pos);
            }
            case Q6_K -> {
                return KQuants.q6_K(in, blocks, out, pos);
            }
            case IQ4_NL -> {
                return IQuants.iq4_nl(in, blocks, out, pos);
            }
            case IQ4_XS -> {
                return IQuants.iq4_xs(in, blocks, out, pos);
            }
            default -> throw new IllegalArgumentException("no decoder for " + type);
        }
    }

    /** IEEE 754 binary16 to binary32, exact for every input including subnormals, infinities and NaN. */
    public static float halfToFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            if (mantissa == 0) {
                return Float.intBitsToFloat(sign);
            }
            float value = mantissa * 0x1p-24f; // subnormal: mantissa * 2^-24, exact in float
            return sign != 0 ? -value : value;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /** binary32 to binary16 with round-to-nearest-even; used by tests and writers of F16 data. */
    static short floatToHalf(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = (bits >>> 23) & 0xff;
        int mantissa = bits & 0x7fffff;
        if (exponent == 0xff) {
            return (short) (sign | 0x7c00 | (mantissa != 0 ? 0x200 | (mantissa >>> 13) : 0));
        }
        int e = exponent - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            if (e < -10) {
                return (short) sign;
            }
            int m = mantissa | 0x800000;
            int shift = 14 - e;
            int half = m >>> shift;
            int rest = m & ((1 << shift) - 1);
            int midpoint = 1 << (shift - 1);
            if (rest > midpoint || (rest == midpoint && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mantissa >>> 13);
        int rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) {
            half++;
        }
        return (short) (sign | half);
    }
}
