package dev.onnxsteer.ir;

/**
 * float32 to and from the 16-bit float encodings ONNX stores (IEEE binary16 and bfloat16), rounding
 * to nearest even as PyTorch and numpy do, so a value computed in float32 and stored once matches
 * what an exporter would have written. Java 17 has no {@code Float.floatToFloat16}.
 */
public final class HalfFloats {
    private HalfFloats() {}

    /** Whether {@code type} is one of the three floating-point element types the compiler computes in. */
    public static boolean isSteerable(DataType type) {
        return type == DataType.FLOAT || type == DataType.FLOAT16 || type == DataType.BFLOAT16;
    }

    public static short toFloat16(float value) {
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
            // subnormal: shift the mantissa with its implicit bit into place, rounding to nearest even
            int m = mantissa | 0x800000;
            int shift = 14 - e;
            int half = 1 << (shift - 1);
            int rounded = (m + half - 1 + ((m >>> shift) & 1)) >>> shift;
            return (short) (sign | rounded);
        }
        int rounded = ((e << 10) | (mantissa >>> 13)) + roundBit(mantissa, 13);
        return (short) (sign | rounded);
    }

    /** 1 when the low {@code shift} bits of {@code mantissa} round the kept bits up (nearest, ties to even). */
    private static int roundBit(int mantissa, int shift) {
        int low = mantissa & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        boolean odd = ((mantissa >>> shift) & 1) != 0;
        return low > half || low == half && odd ? 1 : 0;
    }

    public static float fromFloat16(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            float magnitude = mantissa * 0x1p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
    }

    public static short toBfloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    public static float fromBfloat16(short value) {
        return Float.intBitsToFloat((value & 0xffff) << 16);
    }

    /** {@code value} as stored in {@code type} and read back: what one rounding to that type gives. */
    public static float round(float value, DataType type) {
        return switch (type) {
            case FLOAT16 -> fromFloat16(toFloat16(value));
            case BFLOAT16 -> fromBfloat16(toBfloat16(value));
            default -> value;
        };
    }
}
