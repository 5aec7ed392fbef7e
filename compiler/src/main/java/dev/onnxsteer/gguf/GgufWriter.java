package dev.onnxsteer.gguf;

import dev.onnxsteer.io.AtomicFiles;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF version 3 file (little-endian) with metadata and F32 tensors, laid out as the GGUF
 * specification says: header, key/values in insertion order, tensor infos, zero padding to the alignment
 * (32 unless {@code general.alignment} is put), then each tensor's data at an aligned offset, each followed
 * by zero padding to the alignment (as ggml's own writer does, the last one included).
 *
 * <p>{@link #write} writes a temporary file next to the target and renames it over the target.
 */
public final class GgufWriter {
    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();

    /** A tensor's data, written when the file is: lets a caller stream tensors that never sit in memory together. */
    @FunctionalInterface
    public interface TensorData {
        /** Writes exactly the tensor's {@code type.byteSize(elements)} bytes. */
        void writeTo(OutputStream out) throws IOException;
    }

    private record Tensor(String name, long[] dims, GgmlType type, long bytes, TensorData data) {}

    /** Sets a metadata value; a key put twice keeps its first position and its last value. */
    public GgufWriter put(String key, GgufValue value) {
        if (key.isEmpty() || key.length() > 65535) {
            throw new IllegalArgumentException("GGUF keys are 1..65535 bytes, got " + key.length());
        }
        metadata.put(key, value);
        return this;
    }

    /**
     * Adds an F32 tensor.
     *
     * @param dims dimensions in ggml order ({@code dims[0]} varies fastest); a vector is {@code {n}}
     * @param data the values, copied
     */
    public GgufWriter addTensor(String name, long[] dims, float[] data) {
        long n = checkDims(name, dims);
        if (n != data.length) {
            throw new IllegalArgumentException("tensor " + name + " has " + data.length + " values but dims give " + n);
        }
        float[] copy = data.clone();
        return add(new Tensor(name, dims.clone(), GgmlType.F32, 4L * n, out -> writeFloats(out, copy)));
    }

    /**
     * Adds a tensor of any type whose bytes {@code data} writes when the file is written (for quantised test
     * data and synthetic benchmark models too large to hold).
     */
    public GgufWriter addTensor(String name, long[] dims, GgmlType type, TensorData data) {
        long n = checkDims(name, dims);
        if (dims[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor " + name + " has row length " + dims[0] + ", not a multiple of "
                    + type + "'s block size " + type.blockSize());
        }
        return add(new Tensor(name, dims.clone(), type, type.byteSize(n), data));
    }

    private GgufWriter add(Tensor tensor) {
        for (Tensor t : tensors) {
            if (t.name.equals(tensor.name)) {
                throw new IllegalArgumentException("tensor " + tensor.name + " added twice");
            }
        }
        tensors.add(tensor);
        return this;
    }

    private static long checkDims(String name, long[] dims) {
        long n = 1;
        for (long d : dims) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor " + name + " has dimension " + d);
            }
            n *= d;
        }
        if (dims.length == 0 || dims.length > 4) {
            throw new IllegalArgumentException("tensor " + name + " has " + dims.length + " dimensions; GGUF allows 1..4");
        }
        return n;
    }

    private static void writeFloats(OutputStream out, float[] data) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : data) {
            if (!chunk.hasRemaining()) {
                out.write(chunk.array(), 0, chunk.position());
                chunk.clear();
            }
            chunk.putFloat(v);
        }
        out.write(chunk.array(), 0, chunk.position());
    }

    /** Writes the file: a temporary file in the target's directory, renamed onto {@code target}. */
    public void write(Path target) {
        AtomicFiles.write(target, out -> {
            try (OutputStream buffered = new BufferedOutputStream(out, 1 << 16)) {
                writeTo(buffered);
            }
        });
    }

    /** Writes the file's bytes to a stream (not closed). */
    public void writeTo(OutputStream stream) throws IOException {
        int alignment = alignment();
        LittleEndianOut out = new LittleEndianOut(stream);
        out.i32(GgufFile.MAGIC);
        out.i32(3);
        out.i64(tensors.size());
        out.i64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            out.string(e.getKey());
            out.i32(e.getValue().type().id());
            writeValue(out, e.getValue());
        }
        long offset = 0;
        for (Tensor t : tensors) {
            out.string(t.name);
            out.i32(t.dims.length);
            for (long d : t.dims) {
                out.i64(d);
            }
            out.i32(t.type.id());
            out.i64(offset);
            offset = GgufFile.align(offset + t.bytes, alignment);
        }
        out.pad(alignment);
        for (Tensor t : tensors) {
            long before = out.position();
            t.data.writeTo(out.stream());
            if (out.position() - before != t.bytes) {
                throw new IllegalStateException("tensor " + t.name + " wrote " + (out.position() - before)
                        + " bytes; its type and dims need " + t.bytes);
            }
            out.pad(alignment);
        }
        out.flush();
    }

    private int alignment() {
        GgufValue value = metadata.get(GgufFile.ALIGNMENT_KEY);
        if (value == null) {
            return GgufFile.DEFAULT_ALIGNMENT;
        }
        if (value instanceof GgufValue.Int i && i.value() > 0 && i.value() <= (1 << 30) && Long.bitCount(i.value()) == 1) {
            return (int) i.value();
        }
        throw new IllegalArgumentException(GgufFile.ALIGNMENT_KEY + " must be a power-of-two integer, got " + value);
    }

    private static void writeValue(LittleEndianOut out, GgufValue value) throws IOException {
        if (value instanceof GgufValue.Int i) {
            switch (i.type()) {
                case UINT8, INT8 -> out.i8((int) i.value());
                case UINT16, INT16 -> out.i16((int) i.value());
                case UINT32, INT32 -> out.i32((int) i.value());
                default -> out.i64(i.value());
            }
        } else if (value instanceof GgufValue.Real r) {
            if (r.type() == GgufValueType.FLOAT32) {
                out.i32(Float.floatToRawIntBits((float) r.value()));
            } else {
                out.i64(Double.doubleToRawLongBits(r.value()));
            }
        } else if (value instanceof GgufValue.Bool b) {
            out.i8(b.value() ? 1 : 0);
        } else if (value instanceof GgufValue.Str s) {
            out.string(s.value());
        } else {
            GgufValue.Array a = (GgufValue.Array) value;
            out.i32(a.elementType().id());
            out.i64(a.elements().size());
            for (GgufValue element : a.elements()) {
                writeValue(out, element);
            }
        }
    }

    /** Little-endian primitive writes that keep track of the position, for padding. */
    private static final class LittleEndianOut {
        private final OutputStream out;
        private final byte[] scratch = new byte[8];
        private long position;

        LittleEndianOut(OutputStream out) {
            this.out = out;
        }

        void i8(int v) throws IOException {
            out.write(v);
            position++;
        }

        void i16(int v) throws IOException {
            scratch[0] = (byte) v;
            scratch[1] = (byte) (v >>> 8);
            bytes(scratch, 2);
        }

        void i32(int v) throws IOException {
            for (int i = 0; i < 4; i++) {
                scratch[i] = (byte) (v >>> (8 * i));
            }
            bytes(scratch, 4);
        }

        void i64(long v) throws IOException {
            for (int i = 0; i < 8; i++) {
                scratch[i] = (byte) (v >>> (8 * i));
            }
            bytes(scratch, 8);
        }

        void string(String s) throws IOException {
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            i64(utf8.length);
            bytes(utf8, utf8.length);
        }

        void bytes(byte[] b, int length) throws IOException {
            out.write(b, 0, length);
            position += length;
        }

        void pad(int alignment) throws IOException {
            long padding = GgufFile.align(position, alignment) - position;
            for (long i = 0; i < padding; i++) {
                i8(0);
            }
        }

        void flush() throws IOException {
            out.flush();
        }

        long position() {
            return position;
        }

        /** The underlying stream, counting what is written through it. */
        OutputStream stream() {
            return new OutputStream() {
                @Override
                public void write(int b) throws IOException {
                    i8(b);
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    out.write(b, off, len);
                    position += len;
                }
            };
        }
    }
}
