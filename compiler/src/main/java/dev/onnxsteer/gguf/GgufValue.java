package dev.onnxsteer.gguf;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One GGUF metadata value with its exact on-disk type, so that a value read from a file can be written back
 * unchanged. Integers of every width are held in a {@code long} (UINT64 values above {@link Long#MAX_VALUE}
 * keep their bit pattern); FLOAT32 and FLOAT64 in a {@code double}.
 */
public sealed interface GgufValue {
    GgufValueType type();

    /** An integer of type UINT8..INT64. */
    record Int(GgufValueType type, long value) implements GgufValue {
        public Int {
            if (!type.isInteger()) {
                throw new IllegalArgumentException("GgufValue.Int needs an integer type, got " + type);
            }
        }
    }

    /** A FLOAT32 or FLOAT64. */
    record Real(GgufValueType type, double value) implements GgufValue {
        public Real {
            if (!type.isFloat()) {
                throw new IllegalArgumentException("GgufValue.Real needs FLOAT32 or FLOAT64, got " + type);
            }
        }
    }

    record Bool(boolean value) implements GgufValue {
        @Override
        public GgufValueType type() {
            return GgufValueType.BOOL;
        }
    }

    record Str(String value) implements GgufValue {
        public Str {
            Objects.requireNonNull(value, "value");
        }

        @Override
        public GgufValueType type() {
            return GgufValueType.STRING;
        }
    }

    /** An array; its elements all have {@code elementType} (which may itself be ARRAY). */
    record Array(GgufValueType elementType, List<GgufValue> elements) implements GgufValue {
        public Array {
            elements = List.copyOf(elements);
            for (GgufValue element : elements) {
                if (element.type() != elementType) {
                    throw new IllegalArgumentException(
                            "GGUF array of " + elementType + " cannot hold a " + element.type());
                }
            }
        }

        @Override
        public GgufValueType type() {
            return GgufValueType.ARRAY;
        }
    }

    static GgufValue uint8(int value) {
        return new Int(GgufValueType.UINT8, value & 0xff);
    }

    static GgufValue int8(int value) {
        return new Int(GgufValueType.INT8, (byte) value);
    }

    static GgufValue uint16(int value) {
        return new Int(GgufValueType.UINT16, value & 0xffff);
    }

    static GgufValue int16(int value) {
        return new Int(GgufValueType.INT16, (short) value);
    }

    static GgufValue uint32(long value) {
        if (value < 0 || value > 0xffffffffL) {
            throw new IllegalArgumentException("uint32 out of range: " + value);
        }
        return new Int(GgufValueType.UINT32, value);
    }

    static GgufValue int32(int value) {
        return new Int(GgufValueType.INT32, value);
    }

    static GgufValue uint64(long value) {
        return new Int(GgufValueType.UINT64, value);
    }

    static GgufValue int64(long value) {
        return new Int(GgufValueType.INT64, value);
    }

    static GgufValue float32(float value) {
        return new Real(GgufValueType.FLOAT32, value);
    }

    static GgufValue float64(double value) {
        return new Real(GgufValueType.FLOAT64, value);
    }

    static GgufValue bool(boolean value) {
        return new Bool(value);
    }

    static GgufValue string(String value) {
        return new Str(value);
    }

    static GgufValue stringArray(List<String> values) {
        List<GgufValue> elements = new ArrayList<>(values.size());
        for (String value : values) {
            elements.add(new Str(value));
        }
        return new Array(GgufValueType.STRING, elements);
    }

    static GgufValue float32Array(float[] values) {
        List<GgufValue> elements = new ArrayList<>(values.length);
        for (float value : values) {
            elements.add(float32(value));
        }
        return new Array(GgufValueType.FLOAT32, elements);
    }

    static GgufValue int32Array(int[] values) {
        List<GgufValue> elements = new ArrayList<>(values.length);
        for (int value : values) {
            elements.add(int32(value));
        }
        return new Array(GgufValueType.INT32, elements);
    }
}
