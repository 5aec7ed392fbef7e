package dev.onnxsteer.vectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.gguf.GgufBytes;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufValue;
import dev.onnxsteer.gguf.GgufValueType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SteeringVectorsTest {
    @TempDir
    Path tmp;

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static SteeringVectors sample() {
        Map<Integer, float[]> layers = new TreeMap<>();
        float[] odd = random(64, 1);
        odd[0] = Float.MIN_VALUE; // subnormal
        odd[1] = -0f;
        odd[2] = Float.MAX_VALUE;
        layers.put(1, odd);
        layers.put(3, random(64, 3));
        layers.put(4, random(64, 4));
        VectorMetadata md = VectorMetadata.defaults().withMethod("mean_diff").withSourceModelHash("270cba1b")
                .withModelHint("llama").withExtra("positive", "happy").withExtra("negative", "sad");
        return new SteeringVectors(64, layers, md, "sample");
    }

    @Test
    void ourControlVectorLoadsBackBitExactly() throws Exception {
        SteeringVectors v = sample();
        Path path = tmp.resolve("happy.gguf");
        VectorFiles.write(v, path);
        // the sample holds Float.MAX_VALUE to prove bit-exact storage; only the override reads such a vector
        SteeringVectors back = VectorFiles.read(path, true);
        assertEquals(v, back);
        assertEquals(path.toString(), back.source());
        for (int layer : v.layerIndices()) {
            float[] a = v.layer(layer);
            float[] b = back.layer(layer);
            for (int i = 0; i < a.length; i++) {
                assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]));
            }
        }
        try (GgufFile gguf = GgufFile.open(path)) {
            assertEquals("controlvector", gguf.metadata().getString("general.architecture"));
            assertEquals("llama", gguf.metadata().getString("controlvector.model_hint"));
            assertEquals(new GgufValue.Int(GgufValueType.INT32, 3), gguf.metadata().get("controlvector.layer_count"));
            assertEquals(List.of("direction.1", "direction.3", "direction.4"),
                    gguf.tensors().stream().map(t -> t.name()).toList());
            assertEquals("resid_post", gguf.metadata().getString("onnx_steer.site"));
            assertEquals(64, gguf.metadata().getInt("onnx_steer.hidden_size"));
            assertEquals("happy", gguf.metadata().getString("onnx_steer.positive"));
        }
    }

    @Test
    void readsAHandAssembledLlamaCppControlVector() throws Exception {
        // as llama.cpp's cvector-generator writes one: layer_count INT32, direction.1 .. direction.(n_layer-1)
        byte[] llamaCpp = new GgufBytes()
                .kvString("general.architecture", "controlvector")
                .kvString("controlvector.model_hint", "llama")
                .kvI32("controlvector.layer_count", 2)
                .tensor("direction.1", new long[] {3}, 0, GgufBytes.f32(1, 2, 3))
                .tensor("direction.2", new long[] {3}, 0, GgufBytes.f32(4, 5, 6))
                .build();
        Path p = tmp.resolve("cpp.gguf");
        Files.write(p, llamaCpp);
        SteeringVectors v = VectorFiles.read(p);
        assertEquals(3, v.hiddenSize());
        assertEquals(List.of(1, 2), List.copyOf(v.layerIndices()));
        assertArrayEquals(new float[] {1, 2, 3}, v.layer(1));
        assertArrayEquals(new float[] {4, 5, 6}, v.layer(2));
        assertEquals("resid_post", v.metadata().site());
        assertEquals("llama", v.metadata().modelHint());

        // as repeng's export_gguf writes one: layer_count UINT32, directions in dict order
        byte[] repeng = new GgufBytes()
                .kvString("general.architecture", "controlvector")
                .kvString("controlvector.model_hint", "mistral")
                .kvU32("controlvector.layer_count", 2)
                .tensor("direction.14", new long[] {2}, 0, GgufBytes.f32(0.5f, -0.5f))
                .tensor("direction.13", new long[] {2}, 0, GgufBytes.f32(1, -1))
                .build();
        Path r = tmp.resolve("repeng.gguf");
        Files.write(r, repeng);
        SteeringVectors rv = VectorFiles.read(r);
        assertEquals(List.of(13, 14), List.copyOf(rv.layerIndices()));
        assertArrayEquals(new float[] {1, -1}, rv.layer(13));
    }

    @Test
    void refusesControlVectorsLlamaCppWouldRefuse() throws Exception {
        Path zero = tmp.resolve("zero.gguf");
        SteeringVectors atZero = SteeringVectors.of(Map.of(0, new float[] {1}), VectorMetadata.defaults());
        BadVectorException e = assertThrows(BadVectorException.class, () -> VectorFiles.write(atZero, zero));
        assertTrue(e.getMessage().startsWith("layer 0 cannot be written to the control vector " + zero), e.getMessage());

        Path f16 = write("f16.gguf", new GgufBytes().tensor("direction.1", new long[] {2}, 1, new byte[4]));
        assertEquals(f16 + ": tensor direction.1 has an unusable type (expected F32, found F16)", readError(f16));
        Path other = write("other.gguf", new GgufBytes().tensor("output.weight", new long[] {2}, 0, GgufBytes.f32(1, 2)));
        assertEquals(other + ": unexpected tensor name (expected only direction.N tensors, found output.weight)", readError(other));
        Path model = write("model.gguf", new GgufBytes().kvString("general.architecture", "llama"));
        assertEquals(model + ": is not a llama.cpp control vector (expected general.architecture controlvector, found llama)", readError(model));
        Path sizes = write("sizes.gguf", new GgufBytes()
                .tensor("direction.1", new long[] {2}, 0, GgufBytes.f32(1, 2))
                .tensor("direction.2", new long[] {3}, 0, GgufBytes.f32(1, 2, 3)));
        assertEquals(sizes + ": tensor direction.2 has another length than direction.1 (expected 2 values, found 3 values)", readError(sizes));
        Path nan = write("nan.gguf", new GgufBytes().tensor("direction.2", new long[] {3}, 0, GgufBytes.f32(1, Float.NaN, 3)));
        assertEquals(nan + ": layer 2 has NaN at index 1 (expected finite values, found NaN)", readError(nan));
        Path inf = write("inf.gguf", new GgufBytes().tensor("direction.2", new long[] {2}, 0, GgufBytes.f32(1, Float.NEGATIVE_INFINITY)));
        assertEquals(inf + ": layer 2 has an infinite value at index 1 (expected finite values, found -Infinity)", readError(inf));
        Path magic = tmp.resolve("magic.gguf");
        Files.write(magic, "NOPE".getBytes(StandardCharsets.US_ASCII));
        assertTrue(readError(magic).contains(magic + ": not a GGUF file (expected magic GGUF"), readError(magic));
        Path matrix = write("matrix.gguf", new GgufBytes().tensor("direction.1", new long[] {2, 2}, 0, GgufBytes.f32(1, 2, 3, 4)));
        assertEquals(matrix + ": tensor direction.1 is not a vector (expected one dimension, found shape [2, 2])", readError(matrix));
        Path empty = write("empty.gguf", new GgufBytes().kvString("general.architecture", "controlvector"));
        assertEquals(empty + ": has no vectors (expected direction.N tensors, found none)", readError(empty));
        Path zeroLength = write("zero-length.gguf", new GgufBytes().tensor("direction.1", new long[] {0}, 0, new byte[0]));
        assertEquals(zeroLength + ": tensor direction.1 has an unusable length (expected 1 to 2147483647 values, found shape [0])",
                readError(zeroLength));
        Path declared = write("declared.gguf", new GgufBytes().kvU32("onnx_steer.hidden_size", 3)
                .tensor("direction.1", new long[] {2}, 0, GgufBytes.f32(1, 2)));
        assertEquals(declared + ": onnx_steer.hidden_size disagrees with the tensors (expected 2, found 3)", readError(declared));
        Path text = tmp.resolve("v.txt");
        assertEquals(text + ": is not a vector file (expected a name ending in .gguf or .safetensors, found v.txt)", readError(text));
        IllegalArgumentException output = assertThrows(IllegalArgumentException.class, () -> VectorFiles.outputFormatOf(text));
        assertEquals("output " + text + " is not a vector file name (expected a name ending in .gguf or .safetensors, found v.txt)",
                output.getMessage());
        Path missing = tmp.resolve("missing.safetensors");
        assertEquals(missing + ": does not exist (expected a safetensors file, found nothing at that path)", readError(missing));
    }

    @Test
    void safetensorsRoundTrip() throws Exception {
        SteeringVectors v = sample();
        Path path = tmp.resolve("happy.safetensors");
        VectorFiles.write(v, path);
        SteeringVectors back = VectorFiles.read(path, true);
        assertEquals(v, back);
        byte[] bytes = Files.readAllBytes(path);
        long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, headerLength % 8);
        assertEquals(8 + headerLength + 3 * 64 * 4, bytes.length);
        String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
        assertTrue(header.contains("\"layers.3\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[256,512]}"), header);
        assertTrue(header.contains("\"onnx_steer.site\":\"resid_post\""), header);

        // layer 0 is fine in safetensors
        SteeringVectors atZero = SteeringVectors.of(Map.of(0, new float[] {1, 2}), VectorMetadata.defaults().withSite("mlp_out"));
        Path zero = tmp.resolve("zero.safetensors");
        VectorFiles.write(atZero, zero);
        assertEquals(atZero, VectorFiles.read(zero));
    }

    @Test
    void readsAHandAssembledSafetensorsFile() throws Exception {
        String json = "{\"layers.2\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[8,12]},"
                + "\"layers.1\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"__metadata__\":{\"format\":\"pt\"}}";
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 12).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).putFloat(0.25f).putFloat(-1f).putShort((short) 0x3C00).putShort((short) 0xC000);
        Path p = tmp.resolve("torch.safetensors");
        Files.write(p, b.array());
        SteeringVectors v = VectorFiles.read(p);
        assertArrayEquals(new float[] {0.25f, -1f}, v.layer(1));
        assertArrayEquals(new float[] {1f, -2f}, v.layer(2));
        assertEquals(VectorMetadata.defaults(), v.metadata());

        byte[] bad = b.array().clone();
        bad[8 + header.length + 3] = (byte) 0x7f; // 0.25f's high byte -> NaN
        bad[8 + header.length + 2] = (byte) 0xc0;
        Path nan = tmp.resolve("nan.safetensors");
        Files.write(nan, bad);
        assertEquals(nan + ": layer 1 has NaN at index 0 (expected finite values, found NaN)", readError(nan));
    }

    @Test
    void combinesFilesEachTimesItsCoefficient() {
        SteeringVectors a = new SteeringVectors(2, Map.of(1, new float[] {1, 2}, 2, new float[] {3, 4}),
                VectorMetadata.defaults().withMethod("mean_diff"), "a.gguf");
        SteeringVectors b = new SteeringVectors(2, Map.of(2, new float[] {10, 20}, 3, new float[] {-1, 1}),
                VectorMetadata.defaults().withMethod("pca_diff"), "b.gguf");
        SteeringVectors sum = SteeringVectors.combine(List.of(new SteeringVectors.Term(a, 2f), new SteeringVectors.Term(b, -0.5f)));
        assertEquals(List.of(1, 2, 3), List.copyOf(sum.layerIndices()));
        assertArrayEquals(new float[] {2, 4}, sum.layer(1));
        assertArrayEquals(new float[] {6 - 5, 8 - 10}, sum.layer(2));
        assertArrayEquals(new float[] {0.5f, -0.5f}, sum.layer(3));
        assertEquals("combined", sum.metadata().method());
        assertEquals("a.gguf*2.0 + b.gguf*-0.5", sum.metadata().extra().get("combined_from"));

        SteeringVectors wide = new SteeringVectors(3, Map.of(1, new float[] {1, 2, 3}), VectorMetadata.defaults(), "wide.gguf");
        BadVectorException e = assertThrows(BadVectorException.class,
                () -> SteeringVectors.combine(List.of(new SteeringVectors.Term(a, 1f), new SteeringVectors.Term(wide, 1f))));
        assertEquals("wide.gguf: cannot be added to a.gguf (expected hidden size 2 as there, found hidden size 3)", e.getMessage());
        SteeringVectors mlp = b.withMetadata(b.metadata().withSite("mlp_out")).withSource("mlp.gguf");
        e = assertThrows(BadVectorException.class,
                () -> SteeringVectors.combine(List.of(new SteeringVectors.Term(a, 1f), new SteeringVectors.Term(mlp, 1f))));
        assertEquals("mlp.gguf: cannot be added to a.gguf (expected site resid_post as there, found site mlp_out)", e.getMessage());

        e = assertThrows(BadVectorException.class, () -> new SteeringVectors(2, Map.of(1, new float[] {1}), VectorMetadata.defaults(), "x"));
        assertEquals("x: layer 1 does not have the hidden size (expected 2 values, found 1 values)", e.getMessage());
    }

    private Path write(String name, GgufBytes bytes) throws Exception {
        Path p = tmp.resolve(name);
        Files.write(p, bytes.build());
        return p;
    }

    private static String readError(Path p) {
        return assertThrows(BadVectorException.class, () -> VectorFiles.read(p)).getMessage();
    }
}
