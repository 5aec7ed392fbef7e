package dev.onnxsteer.ir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;

/**
 * Constant tensor data (an initializer, or a tensor attribute). Immutable: a pass that changes
 * weights builds a new Tensor. Data lives inline (little-endian bytes, possibly a view of the
 * memory-mapped model file), in an external file that is mapped only when read, or as strings.
 */
public final class Tensor {
    private final DataType type;
    private final long[] dims;
    private final Storage storage;

    /** Where a tensor's bytes are. */
    public sealed interface Storage {}

    /** Little-endian element bytes held in memory (or mapped from the model file). */
    public record Inline(ByteBuffer bytes) implements Storage {}

    /**
     * Bytes in {@code file} at {@code offset}; {@code location} is the path relative to the model
     * directory as the model names it, kept so an unchanged tensor is written back with the same reference.
     */
    public record External(Path file, String location, long offset, long length) implements Storage {}

    /** STRING tensors. */
    public record Strings(List<byte[]> values) implements Storage {}

    public Tensor(DataType type, long[] dims, Storage storage) {
        this.type = type;
        this.dims = dims.clone();
        this.storage = storage;
        long expected = type == DataType.STRING ? -1 : type.byteSize(elementCount());
        if (storage instanceof Inline inline && inline.bytes.remaining() != expected) {
            throw new IllegalArgumentException("tensor of type " + type.label() + " and shape " + Arrays.toString(dims)
                    + " needs " + expected + " bytes but has " + inline.bytes.remaining());
        }
        if (storage instanceof External ext && ext.length != expected) {
            throw new IllegalArgumentException("external tensor of type " + type.label() + " and shape "
                    + Arrays.toString(dims) + " needs " + expected + " bytes but its length is " + ext.length);
        }
    }

    public static Tensor ofFloats(long[] dims, float... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asFloatBuffer().put(values);
        return new Tensor(DataType.FLOAT, dims, new Inline(buffer));
    }

    /**
     * {@code values} stored as {@code type} (float32, float16 or bfloat16), each rounded once to
     * nearest even: the one place a float32 computation becomes a tensor of a 16-bit site.
     */
    public static Tensor ofFloats(DataType type, long[] dims, float... values) {
        if (type == DataType.FLOAT) {
            return ofFloats(dims, values);
        }
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buffer.putShort(switch (type) {
                case FLOAT16 -> HalfFloats.toFloat16(v);
                case BFLOAT16 -> HalfFloats.toBfloat16(v);
                default -> throw new IllegalArgumentException("cannot store floats as " + type.label()
                        + "; expected float, float16 or bfloat16");
            });
        }
        buffer.flip();
        return new Tensor(type, dims, new Inline(buffer));
    }

    public static Tensor ofLongs(long[] dims, long... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asLongBuffer().put(values);
        return new Tensor(DataType.INT64, dims, new Inline(buffer));
    }

    public static Tensor ofInts(long[] dims, int... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asIntBuffer().put(values);
        return new Tensor(DataType.INT32, dims, new Inline(buffer));
    }

    public static Tensor scalar(float value) {
        return ofFloats(new long[0], value);
    }

    public static Tensor scalar(long value) {
        return ofLongs(new long[0], value);
    }

    public static Tensor vector(long... values) {
        return ofLongs(new long[] {values.length}, values);
    }

    public DataType type() {
        return type;
    }

    public long[] dims() {
        return dims.clone();
    }

    public int rank() {
        return dims.length;
    }

    public long dim(int axis) {
        return dims[axis];
    }

    public long elementCount() {
        long count = 1;
        for (long d : dims) {
            count *= d;
        }
        return count;
    }

    public Storage storage() {
        return storage;
    }

    public boolean isExternal() {
        return storage instanceof External;
    }

    /** Size of the element data in bytes (for strings, the sum of their lengths). */
    public long byteSize() {
        if (storage instanceof Inline inline) {
            return inline.bytes.remaining();
        }
        if (storage instanceof External ext) {
            return ext.length;
        }
        return ((Strings) storage).values.stream().mapToLong(s -> s.length).sum();
    }

    /**
     * The element bytes, little-endian, as a read-only buffer positioned at 0. External data is
     * memory-mapped here, not read into the heap.
     */
    public ByteBuffer bytes() {
        if (storage instanceof Inline inline) {
            return inline.bytes.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }
        if (storage instanceof External ext) {
            return map(ext);
        }
        throw new IllegalStateException("string tensors have no element bytes");
    }

    private static ByteBuffer map(External ext) {
        try (FileChannel channel = FileChannel.open(ext.file, StandardOpenOption.READ)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, ext.offset, ext.length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map external data " + ext.file, e);
        }
    }

    /** The values as floats, widening FLOAT16 and BFLOAT16 exactly. */
    public float[] toFloats() {
        float[] values = new float[Math.toIntExact(elementCount())];
        if (type == DataType.FLOAT) {
            bytes().asFloatBuffer().get(values);
            return values;
        }
        if (type != DataType.FLOAT16 && type != DataType.BFLOAT16) {
            throw new IllegalStateException("expected a float, float16 or bfloat16 tensor but this one is " + type.label());
        }
        java.nio.ShortBuffer halves = bytes().asShortBuffer();
        for (int i = 0; i < values.length; i++) {
            short bits = halves.get(i);
            values[i] = type == DataType.FLOAT16 ? HalfFloats.fromFloat16(bits) : HalfFloats.fromBfloat16(bits);
        }
        return values;
    }

    /** The values as longs, widening INT32/INT64/INT8/UINT8/BOOL. */
    public long[] toLongs() {
        long[] values = new long[Math.toIntExact(elementCount())];
        // absolute reads below index from the buffer's start, so drop any offset the inline data has
        ByteBuffer bytes = bytes().slice().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) {
            values[i] = switch (type) {
                case INT64 -> bytes.getLong(i * 8);
                case INT32 -> bytes.getInt(i * 4);
                case INT8, BOOL -> bytes.get(i);
                case UINT8 -> bytes.get(i) & 0xff;
                default -> throw new IllegalStateException("tensor of type " + type.label() + " is not an integer tensor");
            };
        }
        return values;
    }

    @Override
    public String toString() {
        return type.label() + Arrays.toString(dims);
    }
}
