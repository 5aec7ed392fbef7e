package dev.onnxsteer.gguf;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.Set;

/**
 * The metadata key/values of one GGUF file, in file order, with typed accessors. A getter for a key that
 * is absent or has an incompatible type throws {@link BadModelException} naming the key and the file; the
 * {@code find...} variants return empty for an absent key instead.
 */
public final class GgufMetadata {
    private final Map<String, GgufValue> values;
    private final String source;

    /** @param source the file these values came from, named in error messages */
    public GgufMetadata(Map<String, GgufValue> values, String source) {
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
        this.source = source;
    }

    /** The file these values came from. */
    public String source() {
        return source;
    }

    public Map<String, GgufValue> asMap() {
        return values;
    }

    public Set<String> keys() {
        return values.keySet();
    }

    public boolean contains(String key) {
        return values.containsKey(key);
    }

    public Optional<GgufValue> find(String key) {
        return Optional.ofNullable(values.get(key));
    }

    public GgufValue get(String key) {
        GgufValue value = values.get(key);
        if (value == null) {
            throw new BadModelException(FileProblem.message(source, "GGUF key " + FileProblem.printable(key) + " is missing",
                    "a key of that name", "none among " + values.size() + " keys"));
        }
        return value;
    }

    public String getString(String key) {
        return string(key, get(key));
    }

    public Optional<String> findString(String key) {
        return find(key).map(v -> string(key, v));
    }

    /** An integer of any width; UINT64 values above {@link Long#MAX_VALUE} are refused. */
    public long getLong(String key) {
        return integer(key, get(key));
    }

    public OptionalLong findLong(String key) {
        GgufValue value = values.get(key);
        return value == null ? OptionalLong.empty() : OptionalLong.of(integer(key, value));
    }

    /** An integer of any width that must fit in an {@code int}. */
    public int getInt(String key) {
        long value = getLong(key);
        if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
            throw new BadModelException(FileProblem.message(source, "GGUF key " + FileProblem.printable(key) + " is out of range",
                    "a 32-bit integer", value));
        }
        return (int) value;
    }

    /** A float of either width, or an integer. */
    public double getDouble(String key) {
        return real(key, get(key));
    }

    public OptionalDouble findDouble(String key) {
        GgufValue value = values.get(key);
        return value == null ? OptionalDouble.empty() : OptionalDouble.of(real(key, value));
    }

    public boolean getBool(String key) {
        GgufValue value = get(key);
        if (value instanceof GgufValue.Bool b) {
            return b.value();
        }
        throw wrongType(key, value, "a bool");
    }

    public Optional<Boolean> findBool(String key) {
        return find(key).map(v -> getBool(key));
    }

    public List<String> getStringArray(String key) {
        GgufValue.Array array = array(key, get(key), "an array of strings");
        List<String> out = new ArrayList<>(array.elements().size());
        for (GgufValue element : array.elements()) {
            if (!(element instanceof GgufValue.Str s)) {
                throw wrongType(key, array, "an array of strings");
            }
            out.add(s.value());
        }
        return out;
    }

    /** An array of floats or integers, as floats. */
    public float[] getFloatArray(String key) {
        GgufValue.Array array = array(key, get(key), "an array of numbers");
        float[] out = new float[array.elements().size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) real(key, array.elements().get(i));
        }
        return out;
    }

    /** An array of integers that fit in an {@code int}. */
    public int[] getIntArray(String key) {
        GgufValue.Array array = array(key, get(key), "an array of integers");
        int[] out = new int[array.elements().size()];
        for (int i = 0; i < out.length; i++) {
            long value = integer(key, array.elements().get(i));
            if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
                throw new BadModelException(FileProblem.message(source, "GGUF key " + FileProblem.printable(key)
                        + " is out of range at index " + i, "32-bit integers", value));
            }
            out[i] = (int) value;
        }
        return out;
    }

    private String string(String key, GgufValue value) {
        if (value instanceof GgufValue.Str s) {
            return s.value();
        }
        throw wrongType(key, value, "a string");
    }

    private long integer(String key, GgufValue value) {
        if (value instanceof GgufValue.Int i) {
            if (i.type() == GgufValueType.UINT64 && i.value() < 0) {
                throw new BadModelException(FileProblem.message(source, "GGUF key " + FileProblem.printable(key) + " is too large",
                        "at most " + Long.MAX_VALUE, Long.toUnsignedString(i.value())));
            }
            return i.value();
        }
        throw wrongType(key, value, "an integer");
    }

    private double real(String key, GgufValue value) {
        if (value instanceof GgufValue.Real r) {
            return r.value();
        }
        if (value instanceof GgufValue.Int) {
            return integer(key, value);
        }
        throw wrongType(key, value, "a number");
    }

    private GgufValue.Array array(String key, GgufValue value, String expected) {
        if (value instanceof GgufValue.Array a) {
            return a;
        }
        throw wrongType(key, value, expected);
    }

    private BadModelException wrongType(String key, GgufValue value, String expected) {
        String found = value instanceof GgufValue.Array a ? "an array of " + a.elementType() : "a " + value.type();
        return new BadModelException(FileProblem.message(source, "GGUF key " + FileProblem.printable(key) + " has the wrong type",
                expected, found));
    }
}
