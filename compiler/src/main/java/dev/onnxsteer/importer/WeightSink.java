package dev.onnxsteer.importer;

import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Where the importer puts weight tensors as it makes them. Inline: an ordinary in-memory tensor. External:
 * the bytes are appended to the model's data file at once (64-byte aligned, as {@link ModelWriter} aligns
 * them) and the tensor only refers to them, so a model's weights never sit on the heap together; the peak
 * is one tensor. Tensors under {@link ModelWriter#SMALL_TENSOR} bytes stay inline either way.
 */
final class WeightSink implements AutoCloseable {
    private static final int CHUNK = 1 << 20;

    private final Path file;
    private final String location;
    private final FileChannel channel;
    private long offset;

    private WeightSink(Path file, FileChannel channel) {
        this.file = file;
        this.location = file == null ? null : file.getFileName().toString();
        this.channel = channel;
    }

    /** Keeps every tensor in memory. */
    static WeightSink inline() {
        return new WeightSink(null, null);
    }

    /** Streams tensors into {@code dataFile} (created; it must not exist). */
    static WeightSink external(Path dataFile) {
        try {
            return new WeightSink(dataFile, FileChannel.open(dataFile, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dataFile, e);
        }
    }

    boolean isExternal() {
        return channel != null;
    }

    Tensor floats(long[] dims, float[] values) {
        long bytes = 4L * values.length;
        if (channel == null || bytes < ModelWriter.SMALL_TENSOR) {
            return Tensor.ofFloats(dims, values);
        }
        long start = align();
        ByteBuffer chunk = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i += CHUNK / 4) {
            int n = Math.min(CHUNK / 4, values.length - i);
            chunk.clear();
            chunk.asFloatBuffer().put(values, i, n);
            chunk.limit(4 * n);
            write(chunk);
        }
        return new Tensor(DataType.FLOAT, dims, new Tensor.External(file, location, start, bytes));
    }

    Tensor bytes(DataType type, long[] dims, byte[] values) {
        if (channel == null || values.length < ModelWriter.SMALL_TENSOR) {
            return new Tensor(type, dims, new Tensor.Inline(ByteBuffer.wrap(values)));
        }
        long start = align();
        write(ByteBuffer.wrap(values));
        return new Tensor(type, dims, new Tensor.External(file, location, start, values.length));
    }

    private long align() {
        offset = (offset + 63) & ~63L;
        return offset;
    }

    private void write(ByteBuffer buffer) {
        try {
            while (buffer.hasRemaining()) {
                offset += channel.write(buffer, offset);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Flushes and closes the data file. */
    @Override
    public void close() {
        if (channel != null) {
            try {
                channel.force(true);
                channel.close();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + file, e);
            }
        }
    }
}
