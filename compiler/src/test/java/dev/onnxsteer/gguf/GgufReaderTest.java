package dev.onnxsteer.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.ir.HalfFloats;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufReaderTest {
    @TempDir
    Path tmp;

    private Path file(String name, byte[] bytes) throws Exception {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    @Test
    void readsStories260K() throws Exception {
        Path path = TestPaths.sharedModel("stories260K/stories260K.gguf");
        try (GgufFile gguf = GgufFile.open(path)) {
            GgufMetadata md = gguf.metadata();
            assertEquals(3, gguf.version());
            assertEquals("llama", md.getString("general.architecture"));
            assertEquals(5, md.getInt("llama.block_count"));
            assertEquals(64, md.getInt("llama.embedding_length"));
            assertEquals(8, md.getInt("llama.attention.head_count"));
            assertEquals(4, md.getInt("llama.attention.head_count_kv"));
            assertEquals(172, md.getInt("llama.feed_forward_length"));
            assertEquals(2048, md.getInt("llama.context_length"));
            assertEquals(1e-5f, (float) md.getDouble("llama.attention.layer_norm_rms_epsilon"));
            assertEquals("llama", md.getString("tokenizer.ggml.model"));
            List<String> tokens = md.getStringArray("tokenizer.ggml.tokens");
            assertEquals(512, tokens.size());
            assertEquals(List.of("<unk>", "<s>", "</s>", "<0x00>"), tokens.subList(0, 4));
            assertEquals(512, md.getFloatArray("tokenizer.ggml.scores").length);
            int[] types = md.getIntArray("tokenizer.ggml.token_type");
            assertEquals(2, types[0]);
            assertEquals(3, types[1]);
            assertEquals(6, types[3]);
            assertEquals(1, md.getInt("tokenizer.ggml.bos_token_id"));

            assertEquals(48, gguf.tensors().size());
            assertEquals(32, gguf.alignment());
            assertEquals(14176, gguf.dataOffset()); // tensor infos end at 14152, aligned up to 32
            GgufTensorInfo embd = gguf.tensor("token_embd.weight");
            assertArrayEquals(new long[] {64, 512}, embd.dims());
            assertArrayEquals(new long[] {512, 64}, embd.shape());
            assertEquals(GgmlType.F32, embd.type());
            assertArrayEquals(new long[] {32, 64}, gguf.tensor("blk.0.attn_k.weight").shape());
            assertArrayEquals(new long[] {172, 64}, gguf.tensor("blk.4.ffn_gate.weight").shape());
            assertArrayEquals(new long[] {64, 172}, gguf.tensor("blk.4.ffn_down.weight").shape());
            assertArrayEquals(new long[] {64}, gguf.tensor("output_norm.weight").shape());
            assertEquals(14176 + 131328, gguf.tensor("output.weight").fileOffset());

            for (String name : List.of("token_embd.weight", "blk.3.ffn_down.weight", "output_norm.weight")) {
                GgufTensorInfo info = gguf.tensor(name);
                float[] values = gguf.readFloats(info);
                assertEquals(info.elementCount(), values.length);
                byte[] raw = new byte[values.length * 4];
                try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "r")) {
                    f.seek(info.fileOffset());
                    f.readFully(raw);
                }
                ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
                for (int i : new int[] {0, 1, 63, values.length / 2, values.length - 1}) {
                    assertEquals(Float.floatToRawIntBits(b.getFloat(4 * i)), Float.floatToRawIntBits(values[i]), name + "[" + i + "]");
                }
            }
            BadModelException missing = assertThrows(BadModelException.class, () -> md.getLong("llama.rope.freq_base"));
            assertTrue(missing.getMessage().matches(java.util.regex.Pattern.quote(path + ": GGUF key llama.rope.freq_base is missing "
                    + "(expected a key of that name, found none among ") + "\\d+ keys\\)"), missing.getMessage());
            BadModelException wrong = assertThrows(BadModelException.class, () -> md.getString("llama.block_count"));
            assertEquals(path + ": GGUF key llama.block_count has the wrong type (expected a string, found a UINT32)",
                    wrong.getMessage());
        }
    }

    @Test
    void dequantisesF16Bf16AndQ80() throws Exception {
        short[] f16 = {0x3C00, (short) 0xC100, 0x7BFF, 0x0001, 0x0000, (short) 0x8000, 0x7C00, 0x3555};
        float[] f16Expected = {1f, -2.5f, 65504f, 0x1p-24f, 0f, -0f, Float.POSITIVE_INFINITY, 0.333251953125f};
        ByteBuffer f16Bytes = GgufBytes.le(2 * f16.length);
        for (short s : f16) {
            f16Bytes.putShort(s);
        }
        short[] bf16 = {0x3F80, (short) 0xC000, 0x4049, 0x0000};
        float[] bf16Expected = {1f, -2f, 3.140625f, 0f};
        ByteBuffer bf16Bytes = GgufBytes.le(2 * bf16.length);
        for (short s : bf16) {
            bf16Bytes.putShort(s);
        }
        // two Q8_0 blocks: scale 0.5 with quants j-16, scale -0.25 with quants 127, -128, then zeros
        ByteBuffer q8 = GgufBytes.le(68);
        q8.putShort((short) 0x3800);
        for (int j = 0; j < 32; j++) {
            q8.put((byte) (j - 16));
        }
        q8.putShort((short) 0xB400);
        q8.put((byte) 127).put((byte) -128);
        float[] q8Expected = new float[64];
        for (int j = 0; j < 32; j++) {
            q8Expected[j] = 0.5f * (j - 16);
        }
        q8Expected[32] = -0.25f * 127;
        q8Expected[33] = 32f;
        Arrays.fill(q8Expected, 34, 64, -0f); // a negative scale times a zero quant is -0, as in ggml
        byte[] bytes = new GgufBytes()
                .kvString("general.architecture", "test")
                .tensor("half", new long[] {4, 2}, 1, f16Bytes.array())
                .tensor("brain", new long[] {4}, 30, bf16Bytes.array())
                .tensor("q8", new long[] {32, 2}, 8, q8.array())
                .build();
        // the F16 data holds an infinity on purpose: the decoder must keep it, so read with non-finite allowed
        try (GgufFile gguf = GgufFile.open(file("types.gguf", bytes), true)) {
            assertArrayEquals(f16Expected, gguf.readFloats("half"));
            assertArrayEquals(bf16Expected, gguf.readFloats("brain"));
            assertArrayEquals(q8Expected, gguf.readFloats("q8"));
            assertEquals(GgmlType.Q8_0, gguf.tensor("q8").type());
            assertEquals(68, gguf.tensor("q8").byteSize());
        }
        for (short s : f16) {
            assertEquals(s, HalfFloats.toFloat16(HalfFloats.fromFloat16(s)));
        }
    }

    @Test
    void readsEveryMetadataTypeIncludingNestedArrays() throws Exception {
        ByteBuffer nested = GgufBytes.le(4 + 8 + 2 * (4 + 8) + 3 * 2);
        nested.putInt(9).putLong(2); // array of 2 arrays
        nested.putInt(3).putLong(2).putShort((short) -1).putShort((short) 7); // int16 [-1, 7]
        nested.putInt(3).putLong(1).putShort((short) 300); // int16 [300]
        java.io.ByteArrayOutputStream strings = new java.io.ByteArrayOutputStream();
        strings.writeBytes(GgufBytes.le(12).putInt(8).putLong(2).array());
        GgufBytes.str(strings, "a");
        GgufBytes.str(strings, "日本");
        byte[] bytes = new GgufBytes()
                .kvRaw("t.u8", 0, new byte[] {(byte) 200})
                .kvRaw("t.i8", 1, new byte[] {(byte) -5})
                .kvRaw("t.u16", 2, GgufBytes.le(2).putShort((short) 60000).array())
                .kvRaw("t.i16", 3, GgufBytes.le(2).putShort((short) -300).array())
                .kvU32("t.u32", 0xfffffffe)
                .kvI32("t.i32", -7)
                .kvF32("t.f32", 1.5f)
                .kvRaw("t.bool", 7, new byte[] {1})
                .kvString("t.str", "héllo")
                .kvRaw("t.u64", 10, GgufBytes.le(8).putLong(1L << 40).array())
                .kvRaw("t.i64", 11, GgufBytes.le(8).putLong(-(1L << 40)).array())
                .kvRaw("t.f64", 12, GgufBytes.le(8).putDouble(0.1).array())
                .kvRaw("t.nested", 9, nested.array())
                .kvRaw("t.strings", 9, strings.toByteArray())
                .build();
        try (GgufFile gguf = GgufFile.open(file("kv.gguf", bytes))) {
            GgufMetadata md = gguf.metadata();
            assertEquals(200, md.getLong("t.u8"));
            assertEquals(-5, md.getLong("t.i8"));
            assertEquals(60000, md.getLong("t.u16"));
            assertEquals(-300, md.getLong("t.i16"));
            assertEquals(0xfffffffeL, md.getLong("t.u32"));
            assertEquals(-7, md.getInt("t.i32"));
            assertEquals(1.5, md.getDouble("t.f32"));
            assertTrue(md.getBool("t.bool"));
            assertEquals("héllo", md.getString("t.str"));
            assertEquals(1L << 40, md.getLong("t.u64"));
            assertEquals(-(1L << 40), md.getLong("t.i64"));
            assertEquals(0.1, md.getDouble("t.f64"));
            assertEquals(List.of("a", "日本"), md.getStringArray("t.strings"));
            GgufValue.Array outer = (GgufValue.Array) md.get("t.nested");
            assertEquals(GgufValueType.ARRAY, outer.elementType());
            assertEquals(new GgufValue.Array(GgufValueType.INT16, List.of(GgufValue.int16(-1), GgufValue.int16(7))),
                    outer.elements().get(0));
            assertEquals(List.of("t.u8", "t.i8", "t.u16", "t.i16", "t.u32", "t.i32", "t.f32", "t.bool", "t.str", "t.u64",
                    "t.i64", "t.f64", "t.nested", "t.strings"), List.copyOf(md.keys()));

            // the writer writes every type back byte for byte
            GgufWriter writer = new GgufWriter();
            md.asMap().forEach(writer::put);
            java.io.ByteArrayOutputStream rewritten = new java.io.ByteArrayOutputStream();
            writer.writeTo(rewritten);
            assertArrayEquals(bytes, rewritten.toByteArray());
        }
    }

    @Test
    void writerLaysOutFilesExactlyAsTheSpecSays() throws Exception {
        float[] a = {1f, 2f, 3f};
        float[] b = new float[13];
        Arrays.fill(b, -0.5f);
        byte[] expected = new GgufBytes()
                .kvString("general.architecture", "controlvector")
                .kvI32("controlvector.layer_count", 2)
                .tensor("direction.1", new long[] {3}, 0, GgufBytes.f32(a))
                .tensor("m", new long[] {13, 1}, 0, GgufBytes.f32(b))
                .build();
        Path out = tmp.resolve("w.gguf");
        new GgufWriter()
                .put("general.architecture", GgufValue.string("controlvector"))
                .put("controlvector.layer_count", GgufValue.int32(2))
                .addTensor("direction.1", new long[] {3}, a)
                .addTensor("m", new long[] {13, 1}, b)
                .write(out);
        assertArrayEquals(expected, Files.readAllBytes(out));
        assertEquals(0, Files.size(out) % 32);
        try (GgufFile gguf = GgufFile.open(out)) {
            assertEquals(0, gguf.tensor("direction.1").offset());
            assertEquals(32, gguf.tensor("m").offset());
            assertArrayEquals(b, gguf.readFloats("m"));
        }
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(out), files.toList(), "no temporary file is left behind");
        }
    }

    @Test
    void refusesWrongMagicAndVersions() throws Exception {
        Path notGguf = file("x.gguf", "GGML0000000000000000000000000000".getBytes());
        BadModelException e = assertThrows(BadModelException.class, () -> GgufFile.open(notGguf));
        assertEquals(notGguf + ": not a GGUF file (expected magic GGUF, found 0x47474d4c (\"GGML\"))", e.getMessage());

        Path v1 = file("v1.gguf", new GgufBytes().version(1).build());
        e = assertThrows(BadModelException.class, () -> GgufFile.open(v1));
        assertEquals(v1 + ": unsupported GGUF version (expected version 2 or 3, found 1)", e.getMessage());

        Path big = file("be.gguf", new GgufBytes().version(0x03000000).build());
        e = assertThrows(BadModelException.class, () -> GgufFile.open(big));
        assertEquals(big + ": is a big-endian GGUF file (expected little-endian GGUF, found version 3 byte-swapped)",
                e.getMessage());

        try (GgufFile v2 = GgufFile.open(file("v2.gguf", new GgufBytes().version(2).kvU32("a.b", 1).build()))) {
            assertEquals(2, v2.version());
        }
        Path missing = tmp.resolve("missing.gguf");
        e = assertThrows(BadModelException.class, () -> GgufFile.open(missing));
        assertEquals(missing + ": does not exist (expected a GGUF file, found nothing at that path)", e.getMessage());
    }

    @Test
    void everyTruncationIsABadModel() throws Exception {
        byte[] full = new GgufBytes()
                .kvString("general.architecture", "llama")
                .kvRaw("x.arr", 9, GgufBytes.le(12 + 8).putInt(6).putLong(2).putFloat(1f).putFloat(2f).array())
                .tensor("t0", new long[] {5}, 0, GgufBytes.f32(1, 2, 3, 4, 5))
                .tensor("t1", new long[] {3}, 0, GgufBytes.f32(6, 7, 8))
                .build();
        int dataEnd = full.length - 32 + 12; // t1 starts 32 bytes before the end and is 12 bytes long
        try (GgufFile ok = GgufFile.open(file("full.gguf", Arrays.copyOf(full, dataEnd)))) {
            assertArrayEquals(new float[] {6, 7, 8}, ok.readFloats("t1"));
        }
        for (int cut = 0; cut < dataEnd; cut++) {
            Path p = file("cut" + cut + ".gguf", Arrays.copyOf(full, cut));
            BadModelException e = assertThrows(BadModelException.class, () -> GgufFile.open(p).close(), "cut at " + cut);
            assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        }
        Path header = file("h.gguf", Arrays.copyOf(full, 20));
        assertEquals(header + ": truncated GGUF header at offset 16 (expected 8 more bytes, found 4 (the file has 20 bytes))",
                assertThrows(BadModelException.class, () -> GgufFile.open(header)).getMessage());
        Path data = file("d.gguf", Arrays.copyOf(full, dataEnd - 1));
        String message = assertThrows(BadModelException.class, () -> GgufFile.open(data)).getMessage();
        assertTrue(message.startsWith(data + ": truncated tensor data: tensor t1 needs bytes "), message);
    }

    @Test
    void refusesTypesItCannotDequantise() throws Exception {
        byte[] bytes = new GgufBytes()
                .tensor("blk.0.attn_q.weight", new long[] {256, 1}, 12, new byte[144])
                .tensor("weird", new long[] {4}, 99, new byte[16])
                .build();
        Path p = file("q4k.gguf", bytes);
        BadModelException unknown = assertThrows(BadModelException.class, () -> GgufFile.open(p));
        assertEquals(p + ": tensor weird has an unknown ggml type (expected a known ggml type id, found type id 99)",
                unknown.getMessage());

        Path q4k = file("iq2-only.gguf", new GgufBytes().tensor("blk.0.attn_q.weight", new long[] {256, 1}, 16, new byte[66]).build());
        try (GgufFile gguf = GgufFile.open(q4k)) {
            assertEquals(GgmlType.IQ2_XXS, gguf.tensor("blk.0.attn_q.weight").type());
            BadModelException e = assertThrows(BadModelException.class, () -> gguf.readFloats("blk.0.attn_q.weight"));
            assertEquals(q4k + ": tensor blk.0.attn_q.weight has a type onnx-steer cannot read (expected one of F32, F16, BF16,"
                    + " Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, found IQ2_XXS)", e.getMessage());
            assertEquals(q4k + ": tensor nope is missing (expected a tensor of that name, found none among 1 tensors)",
                    assertThrows(BadModelException.class, () -> gguf.tensor("nope")).getMessage());
        }
        GgufFile closed = GgufFile.open(q4k);
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.rawData(closed.tensor("blk.0.attn_q.weight")));
    }
}
