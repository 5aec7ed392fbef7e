package dev.onnxsteer.gguf;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A GGUF file (versions 2 and 3, little-endian) opened for reading: header, metadata, tensor infos, and
 * tensor data read on request from a memory map of just that tensor's bytes, never the whole file.
 *
 * <p>The layout is parsed and checked by {@link GgufLayout}.
 *
 * <p>Every structural problem (wrong magic, unsupported version, truncated header, metadata or tensor
 * data, unknown types) is a {@link BadModelException} naming the file. Close it to release the file.
 */
public final class GgufFile implements AutoCloseable {
    /** The alignment a file has when it does not set {@code general.alignment}. */
    public static final int DEFAULT_ALIGNMENT = 32;
    public static final String ALIGNMENT_KEY = "general.alignment";
    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    private static final long CHUNK_BYTES = 1L << 30;

    private final Path path;
    private final FileChannel channel;
    private final long fileSize;
    private final int version;
    private final GgufMetadata metadata;
    private final List<GgufTensorInfo> tensors;
    private final Map<String, GgufTensorInfo> byName;
    private final int alignment;
    private final long dataOffset;
    private final boolean allowNonfinite;
    private volatile boolean closed;

    private GgufFile(Path path, FileChannel channel, GgufLayout layout, boolean allowNonfinite) {
        this.allowNonfinite = allowNonfinite;
        this.path = path;
        this.channel = channel;
        this.fileSize = layout.fileSize();
        this.version = layout.version();
        this.metadata = layout.metadata();
        this.tensors = Collections.unmodifiableList(layout.tensors());
        Map<String, GgufTensorInfo> map = new LinkedHashMap<>();
        for (GgufTensorInfo t : tensors) {
            map.put(t.name(), t);
        }
        this.byName = Collections.unmodifiableMap(map);
        this.alignment = layout.alignment();
        this.dataOffset = layout.dataOffset();
    }

    /** Opens and parses a GGUF file; the tensor data stays on disk until asked for; NaN or infinite weights are refused. */
    public static GgufFile open(Path path) {
        return open(path, false);
    }

    /**
     * Opens and parses a GGUF file.
     *
     * @param allowNonfinite when false, {@link #readFloats} refuses a tensor holding NaN or an infinity (a corrupted
     *     file generates junk rather than failing); true reads them as they are
     */
    public static GgufFile open(Path path, boolean allowNonfinite) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new BadModelException(FileProblem.message(path, "does not exist", "a GGUF file", "nothing at that path"));
        } catch (IOException e) {
            throw new BadModelException(FileProblem.message(path, "cannot be opened", "a readable GGUF file", e.getMessage()), e);
        }
        try {
            GgufLayout layout = GgufLayout.parse(path, channel);
            return new GgufFile(path, channel, layout, allowNonfinite);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        } catch (IOException e) {
            closeQuietly(channel);
            throw new BadModelException(FileProblem.message(path, "cannot be read", "a readable GGUF file", e.getMessage()), e);
        }
    }

    public Path path() {
        return path;
    }

    public int version() {
        return version;
    }

    public GgufMetadata metadata() {
        return metadata;
    }

    /** Tensor infos in file order. */
    public List<GgufTensorInfo> tensors() {
        return tensors;
    }

    public Optional<GgufTensorInfo> findTensor(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    public GgufTensorInfo tensor(String name) {
        GgufTensorInfo info = byName.get(name);
        if (info == null) {
            throw new BadModelException(FileProblem.message(path, "tensor " + FileProblem.printable(name) + " is missing", "a tensor of that name",
                    "none among " + byName.size() + " tensors"));
        }
        return info;
    }

    public int alignment() {
        return alignment;
    }

    /** Where the data section starts in the file. */
    public long dataOffset() {
        return dataOffset;
    }

    public long fileSize() {
        return fileSize;
    }

    /** The named tensor's values as float32, dequantised from any {@link GgmlType#isDequantisable()} type; in ggml order. */
    public float[] readFloats(String name) {
        return readFloats(tensor(name));
    }

    /**
     * The tensor's values as float32, element {@code i} of the result being element {@code i} of the data in
     * ggml order ({@code dims[0]} fastest, which is row-major for {@link GgufTensorInfo#shape()}).
     */
    public float[] readFloats(GgufTensorInfo info) {
        checkOpen();
        if (!info.type().isDequantisable()) {
            throw new BadModelException(FileProblem.message(path, "tensor " + FileProblem.printable(info.name()) + " has a type onnx-steer cannot read",
                    "one of " + GgmlType.SUPPORTED, info.type()));
        }
        long elements = info.elementCount();
        if (elements > Integer.MAX_VALUE - 8) {
            throw new BadModelException(FileProblem.message(path, "tensor " + FileProblem.printable(info.name()) + " is too large to read",
                    "at most " + (Integer.MAX_VALUE - 8) + " elements", elements));
        }
        float[] out = new float[(int) elements];
        GgmlType type = info.type();
        long blocks = elements / type.blockSize();
        long blocksPerChunk = CHUNK_BYTES / type.blockBytes();
        int pos = 0;
        for (long block = 0; block < blocks; block += blocksPerChunk) {
            long n = Math.min(blocksPerChunk, blocks - block);
            ByteBuffer buf = map(info.fileOffset() + block * type.blockBytes(), n * type.blockBytes());
            pos = Dequantise.decode(type, buf, (int) n, out, pos);
        }
        if (!allowNonfinite) {
            checkFinite(info, out);
        }
        return out;
    }

    private void checkFinite(GgufTensorInfo info, float[] values) {
        int bad = 0;
        int first = -1;
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                bad++;
                first = first < 0 ? i : first;
            }
        }
        if (bad > 0) {
            throw new BadModelException(FileProblem.message(path, "tensor " + FileProblem.printable(info.name()) + " has " + bad
                    + " NaN or infinite value" + (bad == 1 ? "" : "s") + ", the first at element " + first,
                    "finite weights", values[first]) + "; --allow-nonfinite reads them anyway");
        }
    }

    /** The tensor's raw bytes as a read-only little-endian buffer mapped from the file. */
    public ByteBuffer rawData(GgufTensorInfo info) {
        checkOpen();
        if (info.byteSize() > Integer.MAX_VALUE) {
            throw new BadModelException(FileProblem.message(path, "tensor " + FileProblem.printable(info.name()) + " is too large for one buffer",
                    "at most " + Integer.MAX_VALUE + " bytes", info.byteSize()));
        }
        return map(info.fileOffset(), info.byteSize());
    }

    private ByteBuffer map(long offset, long length) {
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, offset, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map " + length + " bytes at " + offset + " of " + path, e);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("GGUF file " + path + " is closed");
        }
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(channel);
    }

    static long align(long offset, int alignment) {
        return offset + (alignment - offset % alignment) % alignment;
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing was written; a failed close of a read-only channel loses nothing
        }
    }


}
