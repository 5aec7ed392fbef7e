package dev.onnxsteer.gguf;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A GGUF file (versions 2 and 3, little-endian) opened for reading: header, metadata, tensor infos, and
 * tensor data read on request from a memory map of just that tensor's bytes, never the whole file.
 *
 * <p>Layout, per the GGUF specification (ggml {@code docs/gguf.md}): magic {@code GGUF}, uint32 version,
 * uint64 tensor count, uint64 metadata count, the metadata key/values, the tensor infos, zero padding to
 * {@code general.alignment} (default 32), then the data section; each tensor's offset is relative to the
 * data section and a multiple of the alignment.
 *
 * <p>Every structural problem (wrong magic, unsupported version, truncated header, metadata or tensor
 * data, unknown types) is a {@link BadModelException} naming the file. Close it to release the file.
 */
public final class GgufFile implements AutoCloseable {
    /** The alignment a file has when it does not set {@code general.alignment}. */
    public static final int DEFAULT_ALIGNMENT = 32;
    public static final String ALIGNMENT_KEY = "general.alignment";
    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    private static final int MAX_DIMS = 4;
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

    private GgufFile(Path path, FileChannel channel, long fileSize, int version, GgufMetadata metadata,
            List<GgufTensorInfo> tensors, int alignment, long dataOffset, boolean allowNonfinite) {
        this.allowNonfinite = allowNonfinite;
        this.path = path;
        this.channel = channel;
        this.fileSize = fileSize;
        this.version = version;
        this.metadata = metadata;
        this.tensors = Collections.unmodifiableList(tensors);
        Map<String, GgufTensorInfo> map = new LinkedHashMap<>();
        for (GgufTensorInfo t : tensors) {
            map.put(t.name(), t);
        }
        this.byName = Collections.unmodifiableMap(map);
        this.alignment = alignment;
        this.dataOffset = dataOffset;
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
            return parse(path, channel, allowNonfinite);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        } catch (IOException e) {
            closeQuietly(channel);
            throw new BadModelException(FileProblem.message(path, "cannot be read", "a readable GGUF file", e.getMessage()), e);
        }
    }

    private static GgufFile parse(Path path, FileChannel channel, boolean allowNonfinite) throws IOException {
        long size = channel.size();
        String file = path.toString();
        if (size < 4) {
            throw new BadModelException(FileProblem.message(file, "not a GGUF file", "magic GGUF", "a file of " + size + " bytes"));
        }
        MappedByteBuffer map = channel.map(FileChannel.MapMode.READ_ONLY, 0, Math.min(size, Integer.MAX_VALUE));
        map.order(ByteOrder.LITTLE_ENDIAN);
        Cursor in = new Cursor(map, file, size);

        int magic = map.getInt(0);
        if (magic != MAGIC) {
            byte[] found = new byte[4];
            map.get(0, found);
            throw new BadModelException(FileProblem.message(file, "not a GGUF file", "magic GGUF", printable(found)));
        }
        in.skip(4, "header");
        int version = in.i32("header");
        if (version != 2 && version != 3) {
            int swapped = Integer.reverseBytes(version);
            if (swapped >= 1 && swapped <= 3) {
                throw new BadModelException(FileProblem.message(file, "is a big-endian GGUF file", "little-endian GGUF",
                        "version " + swapped + " byte-swapped"));
            }
            throw new BadModelException(FileProblem.message(file, "unsupported GGUF version", "version 2 or 3",
                    Integer.toUnsignedString(version)));
        }
        long tensorCount = in.u64("header");
        long kvCount = in.u64("header");
        // every key/value takes at least 13 bytes, every tensor info at least 24: catch absurd counts early
        in.require(timesOrMax(kvCount, 13), "metadata");

        Map<String, GgufValue> values = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = in.string("metadata");
            long typeId = in.u32("metadata");
            GgufValueType type = GgufValueType.byId(typeId);
            if (type == null) {
                throw new BadModelException(FileProblem.message(file, "GGUF key " + q(key) + " has an unknown value type",
                        "a type id from 0 to 12", "unknown value type " + typeId));
            }
            GgufValue value = readValue(in, type, key);
            if (values.putIfAbsent(key, value) != null) {
                throw new BadModelException(FileProblem.message(file, "GGUF key " + q(key) + " appears twice", "unique keys",
                        "a second " + q(key)));
            }
        }
        GgufMetadata metadata = new GgufMetadata(values, file);

        int alignment = DEFAULT_ALIGNMENT;
        if (metadata.contains(ALIGNMENT_KEY)) {
            long a = metadata.getLong(ALIGNMENT_KEY);
            if (a <= 0 || a > (1 << 30) || Long.bitCount(a) != 1) {
                throw new BadModelException(FileProblem.message(file, ALIGNMENT_KEY + " is not a usable alignment",
                        "a power of two up to 2^30", a));
            }
            alignment = (int) a;
        }

        in.require(timesOrMax(tensorCount, 24), "tensor info");
        List<String> names = new ArrayList<>();
        List<long[]> allDims = new ArrayList<>();
        List<GgmlType> types = new ArrayList<>();
        List<Long> offsets = new ArrayList<>();
        java.util.Set<String> keySpaces = new java.util.HashSet<>();
        values.keySet().forEach(k -> keySpaces.add(k.substring(0, Math.max(0, k.indexOf('.')))));
        keySpaces.remove("");
        for (long i = 0; i < tensorCount; i++) {
            String name = in.string("tensor info");
            int dot = name.indexOf('.');
            if (dot > 0 && keySpaces.contains(name.substring(0, dot))) {
                // a key where a tensor info should start: the header's key/value count is short
                throw new BadModelException(FileProblem.message(file, "tensor info " + i + " starts with the metadata key "
                        + q(name) + ", so the header's key/value count is wrong", "at least " + (kvCount + 1)
                        + " key/values", kvCount));
            }
            long nDims = in.u32("tensor info");
            if (nDims > MAX_DIMS) {
                throw new BadModelException(FileProblem.message(file, "tensor " + q(name) + " has too many dimensions",
                        "at most " + MAX_DIMS, nDims));
            }
            long[] dims = new long[(int) nDims];
            for (int d = 0; d < nDims; d++) {
                dims[d] = in.u64("tensor info");
                if (dims[d] < 0) {
                    throw new BadModelException(FileProblem.message(file, "tensor " + q(name) + " has a dimension too large",
                            "at most 2^63-1", Long.toUnsignedString(dims[d])));
                }
            }
            long typeId = in.u32("tensor info");
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) {
                throw new BadModelException(FileProblem.message(file, "tensor " + q(name) + " has an unknown ggml type",
                        "a known ggml type id", "type id " + typeId));
            }
            long offset = in.u64("tensor info");
            names.add(name);
            allDims.add(dims);
            types.add(type);
            offsets.add(offset);
        }
        long dataOffset = align(in.position(), alignment);

        List<GgufTensorInfo> tensors = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            if (!seen.add(name)) {
                throw new BadModelException(FileProblem.message(file, "tensor " + q(name) + " appears twice", "unique tensor names",
                        "a second " + q(name)));
            }
            long[] dims = allDims.get(i);
            GgmlType type = types.get(i);
            long offset = offsets.get(i);
            long elements = 1;
            for (long d : dims) {
                elements = timesOrMax(elements, d);
                if (elements == Long.MAX_VALUE) {
                    throw new BadModelException(FileProblem.message(file, "tensor " + q(name) + " has too many elements",
                            "at most 2^63-1 elements", java.util.Arrays.toString(dims)));
                }
            }
            if (dims.length > 0 && dims[0] % type.blockSize() != 0) {
                throw new BadModelException(FileProblem.message(file, "tensor " + q(name) + " has a row length that is not whole "
                        + type + " blocks", "a multiple of " + type.blockSize(), dims[0]));
            }
            if (offset < 0 || offset % alignment != 0) {
                throw new BadModelException(FileProblem.message(file, "tensor " + q(name) + " has a misaligned data offset",
                        "a multiple of the alignment " + alignment, Long.toUnsignedString(offset)));
            }
            GgufTensorInfo info = new GgufTensorInfo(name, dims, type, offset, dataOffset + offset);
            long end = info.fileOffset() + info.byteSize();
            if (info.fileOffset() < 0 || end < 0 || end > size) {
                throw new BadModelException(FileProblem.message(file, "truncated tensor data: tensor " + q(name)
                        + " needs bytes " + info.fileOffset() + ".." + end, "a file of at least " + end + " bytes",
                        size + " bytes"));
            }
            tensors.add(info);
        }
        checkDataRegion(file, size, alignment, dataOffset, tensors);
        return new GgufFile(path, channel, size, version, metadata, tensors, alignment, dataOffset, allowNonfinite);
    }

    /**
     * The data section must be exactly the tensors: no two overlap, and the file ends where the last one does
     * (or at most at the alignment after it, as llama.cpp and gguf-py pad). Extra bytes mean the data moved:
     * a chunk duplicated or inserted before the end shifts every later tensor, and each would read its
     * neighbour's bytes without any size check failing.
     */
    private static void checkDataRegion(String file, long size, int alignment, long dataOffset, List<GgufTensorInfo> tensors) {
        if (tensors.isEmpty()) {
            return;
        }
        List<GgufTensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.sort(java.util.Comparator.comparingLong(GgufTensorInfo::fileOffset));
        long end = dataOffset;
        GgufTensorInfo previous = null;
        for (GgufTensorInfo t : byOffset) {
            if (t.fileOffset() < end) {
                throw new BadModelException(FileProblem.message(file, "tensor " + q(t.name()) + " overlaps tensor "
                        + q(previous.name()), "data from byte " + end, "data from byte " + t.fileOffset()));
            }
            end = t.fileOffset() + t.byteSize();
            previous = t;
        }
        long padded = align(end, alignment);
        if (size > padded) {
            throw new BadModelException(FileProblem.message(file, "data section does not end with its last tensor "
                    + q(previous.name()) + ": the data was shifted or the file has trailing bytes",
                    "a file of " + end + (padded > end ? ".." + padded : "") + " bytes", size + " bytes"));
        }
    }

    /** A name or key read from the file, safe to print: corrupted bytes are escaped and long values cut. */
    private static String q(String text) {
        return FileProblem.printable(text);
    }

    private static GgufValue readValue(Cursor in, GgufValueType type, String key) {
        return switch (type) {
            case UINT8 -> new GgufValue.Int(type, in.u8("metadata"));
            case INT8 -> new GgufValue.Int(type, (byte) in.u8("metadata"));
            case UINT16 -> new GgufValue.Int(type, in.u16("metadata"));
            case INT16 -> new GgufValue.Int(type, (short) in.u16("metadata"));
            case UINT32 -> new GgufValue.Int(type, in.u32("metadata"));
            case INT32 -> new GgufValue.Int(type, in.i32("metadata"));
            case UINT64, INT64 -> new GgufValue.Int(type, in.u64("metadata"));
            case FLOAT32 -> new GgufValue.Real(type, Float.intBitsToFloat(in.i32("metadata")));
            case FLOAT64 -> new GgufValue.Real(type, Double.longBitsToDouble(in.u64("metadata")));
            case BOOL -> {
                int b = in.u8("metadata");
                if (b > 1) {
                    throw new BadModelException(FileProblem.message(in.file, "GGUF key " + q(key) + " is not a bool",
                            "byte 0 or 1", "byte " + b));
                }
                yield new GgufValue.Bool(b == 1);
            }
            case STRING -> new GgufValue.Str(in.string("metadata"));
            case ARRAY -> {
                long elementTypeId = in.u32("metadata");
                GgufValueType elementType = GgufValueType.byId(elementTypeId);
                if (elementType == null) {
                    throw new BadModelException(FileProblem.message(in.file, "GGUF key " + q(key) + " is an array of an unknown value type",
                            "a type id from 0 to 12", "unknown value type " + elementTypeId));
                }
                long length = in.u64("metadata");
                if (length < 0 || length > Integer.MAX_VALUE - 8) {
                    throw new BadModelException(FileProblem.message(in.file, "GGUF key " + q(key) + " is an array too long",
                            "at most " + (Integer.MAX_VALUE - 8) + " elements", Long.toUnsignedString(length)));
                }
                in.require(length * elementType.minBytes(), "metadata");
                List<GgufValue> elements = new ArrayList<>((int) length);
                for (long i = 0; i < length; i++) {
                    elements.add(readValue(in, elementType, key));
                }
                yield new GgufValue.Array(elementType, elements);
            }
        };
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
            throw new BadModelException(FileProblem.message(path, "tensor " + q(name) + " is missing", "a tensor of that name",
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
            throw new BadModelException(FileProblem.message(path, "tensor " + q(info.name()) + " has a type onnx-steer cannot read",
                    "one of " + GgmlType.SUPPORTED, info.type()));
        }
        long elements = info.elementCount();
        if (elements > Integer.MAX_VALUE - 8) {
            throw new BadModelException(FileProblem.message(path, "tensor " + q(info.name()) + " is too large to read",
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
            throw new BadModelException(FileProblem.message(path, "tensor " + q(info.name()) + " has " + bad
                    + " NaN or infinite value" + (bad == 1 ? "" : "s") + ", the first at element " + first,
                    "finite weights", values[first]) + "; --allow-nonfinite reads them anyway");
        }
    }

    /** The tensor's raw bytes as a read-only little-endian buffer mapped from the file. */
    public ByteBuffer rawData(GgufTensorInfo info) {
        checkOpen();
        if (info.byteSize() > Integer.MAX_VALUE) {
            throw new BadModelException(FileProblem.message(path, "tensor " + q(info.name()) + " is too large for one buffer",
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

    /** {@code a * b} for non-negative (unsigned-read) counts, or {@link Long#MAX_VALUE} when it does not fit. */
    private static long timesOrMax(long a, long b) {
        if (a < 0 || b < 0) {
            return Long.MAX_VALUE;
        }
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
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

    private static String printable(byte[] bytes) {
        StringBuilder hex = new StringBuilder("0x");
        StringBuilder text = new StringBuilder();
        for (byte b : bytes) {
            hex.append(String.format("%02x", b & 0xff));
            text.append(b >= 0x20 && b < 0x7f ? (char) b : '.');
        }
        return hex + " (\"" + text + "\")";
    }

    /** Bounds-checked little-endian reads over the mapped header, naming the section that ran short. */
    private static final class Cursor {
        private final ByteBuffer buf;
        private final String file;
        private final long fileSize;

        Cursor(ByteBuffer buf, String file, long fileSize) {
            this.buf = buf;
            this.file = file;
            this.fileSize = fileSize;
        }

        long position() {
            return buf.position();
        }

        void require(long bytes, String section) {
            if (bytes < 0 || bytes > buf.remaining()) {
                throw new BadModelException(FileProblem.message(file, "truncated GGUF " + section + " at offset " + buf.position(),
                        (bytes < 0 || bytes == Long.MAX_VALUE ? "too many" : String.valueOf(bytes)) + " more bytes",
                        buf.remaining() + " (the file has " + fileSize + " bytes)"));
            }
        }

        void skip(int n, String section) {
            require(n, section);
            buf.position(buf.position() + n);
        }

        int u8(String section) {
            require(1, section);
            return buf.get() & 0xff;
        }

        int u16(String section) {
            require(2, section);
            return buf.getShort() & 0xffff;
        }

        int i32(String section) {
            require(4, section);
            return buf.getInt();
        }

        long u32(String section) {
            return i32(section) & 0xffffffffL;
        }

        long u64(String section) {
            require(8, section);
            return buf.getLong();
        }

        String string(String section) {
            long length = u64(section);
            require(length, section);
            byte[] bytes = new byte[(int) length];
            buf.get(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }
}
