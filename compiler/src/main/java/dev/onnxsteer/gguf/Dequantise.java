package dev.onnxsteer.gguf;

import dev.onnxsteer.ir.HalfFloats;
import java.nio.ByteBuffer;

/** Decoders from ggml block formats to float32 (half-precision values through {@link HalfFloats}). */
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
                    out[pos++] = HalfFloats.fromFloat16(in.getShort(2 * i));
                }
                return pos;
            }
            case BF16 -> {
                for (int i = 0; i < blocks; i++) {
                    out[pos++] = HalfFloats.fromBfloat16(in.getShort(2 * i));
                }
                return pos;
            }
            case Q8_0 -> {
                // block_q8_0: fp16 scale d, then 32 int8 quants; value = d * q
                for (int b = 0; b < blocks; b++) {
                    int base = b * 34;
                    float d = HalfFloats.fromFloat16(in.getShort(base));
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
}
