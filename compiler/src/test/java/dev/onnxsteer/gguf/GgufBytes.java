package dev.onnxsteer.gguf;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Assembles GGUF bytes by hand, field by field as the GGUF specification lays them out, independently of
 * {@link GgufWriter}: tests use it to make files as other tools (llama.cpp, gguf-py) would.
 */
public final class GgufBytes {
    private int version = 3;
    private int alignment = 32;
    private final ByteArrayOutputStream kvs = new ByteArrayOutputStream();
    private int kvCount;
    private final List<Object[]> tensors = new ArrayList<>();

    public GgufBytes version(int version) {
        this.version = version;
        return this;
    }

    /** Only changes the layout; put the key too with {@link #kvU32}. */
    public GgufBytes alignment(int alignment) {
        this.alignment = alignment;
        return this;
    }

    public GgufBytes kvString(String key, String value) {
        key(key, 8);
        str(kvs, value);
        return this;
    }

    public GgufBytes kvU32(String key, int value) {
        key(key, 4);
        kvs.writeBytes(le(4).putInt(value).array());
        return this;
    }

    public GgufBytes kvI32(String key, int value) {
        key(key, 5);
        kvs.writeBytes(le(4).putInt(value).array());
        return this;
    }

    public GgufBytes kvF32(String key, float value) {
        key(key, 6);
        kvs.writeBytes(le(4).putFloat(value).array());
        return this;
    }

    /** A key with an arbitrary type id and raw value bytes. */
    public GgufBytes kvRaw(String key, int type, byte[] value) {
        key(key, type);
        kvs.writeBytes(value);
        return this;
    }

    public GgufBytes tensor(String name, long[] dims, int ggmlType, byte[] data) {
        tensors.add(new Object[] {name, dims, ggmlType, data});
        return this;
    }

    public byte[] build() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("GGUF".getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(le(4).putInt(version).array());
        out.writeBytes(le(8).putLong(tensors.size()).array());
        out.writeBytes(le(8).putLong(kvCount).array());
        out.writeBytes(kvs.toByteArray());
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (Object[] t : tensors) {
            long[] dims = (long[]) t[1];
            str(out, (String) t[0]);
            out.writeBytes(le(4).putInt(dims.length).array());
            for (long d : dims) {
                out.writeBytes(le(8).putLong(d).array());
            }
            out.writeBytes(le(4).putInt((Integer) t[2]).array());
            out.writeBytes(le(8).putLong(offset).array());
            offsets.add(offset);
            offset += ((byte[]) t[3]).length;
            offset = (offset + alignment - 1) / alignment * alignment;
        }
        pad(out);
        for (Object[] t : tensors) {
            out.writeBytes((byte[]) t[3]);
            pad(out);
        }
        return out.toByteArray();
    }

    private void pad(ByteArrayOutputStream out) {
        while (out.size() % alignment != 0) {
            out.write(0);
        }
    }

    private void key(String key, int type) {
        kvCount++;
        str(kvs, key);
        kvs.writeBytes(le(4).putInt(type).array());
    }

    public static void str(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeBytes(le(8).putLong(b.length).array());
        out.writeBytes(b);
    }

    public static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    public static byte[] f32(float... values) {
        ByteBuffer b = le(4 * values.length);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }
}
