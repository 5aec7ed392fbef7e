package dev.onnxsteer.gguf;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a GGUF file's header says, parsed and checked against the file before any tensor is read.
 *
 * <p>Layout, per the GGUF specification (ggml {@code docs/gguf.md}): magic {@code GGUF}, uint32 version,
 * uint64 tensor count, uint64 metadata count, the metadata key/values, the tensor infos, zero padding to
 * {@code general.alignment} (default 32), then the data section; each tensor's offset is relative to the
 * data section and a multiple of the alignment.
 *
 * @param dataOffset where the data section starts in the file
 */
record GgufLayout(long fileSize, int version, GgufMetadata metadata, List<GgufTensorInfo> tensors, int alignment,
        long dataOffset) {
    private static final int MAX_DIMS = 4;

    /** Reads and checks the header, metadata and tensor infos of the file open on {@code channel}. */
    static GgufLayout parse(Path path, FileChannel channel) throws IOException {
        long size = channel.size();
        String file = path.toString();
        if (size < 4) {
            throw new BadModelException(FileProblem.message(file, "not a GGUF file", "magic GGUF", "a file of " + size + " bytes"));
        }
        MappedByteBuffer map = channel.map(FileChannel.MapMode.READ_ONLY, 0, Math.min(size, Integer.MAX_VALUE));
        map.order(ByteOrder.LITTLE_ENDIAN);
        Cursor in = new Cursor(map, file, size);

        int magic = map.getInt(0);
        if (magic != GgufFile.MAGIC) {
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

        int alignment = GgufFile.DEFAULT_ALIGNMENT;
        if (metadata.contains(GgufFile.ALIGNMENT_KEY)) {
            long a = metadata.getLong(GgufFile.ALIGNMENT_KEY);
            if (a <= 0 || a > (1 << 30) || Long.bitCount(a) != 1) {
                throw new BadModelException(FileProblem.message(file, GgufFile.ALIGNMENT_KEY + " is not a usable alignment",
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
        long dataOffset = GgufFile.align(in.position(), alignment);

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
        return new GgufLayout(size, version, metadata, tensors, alignment, dataOffset);
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
        long padded = GgufFile.align(end, alignment);
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
    }}
