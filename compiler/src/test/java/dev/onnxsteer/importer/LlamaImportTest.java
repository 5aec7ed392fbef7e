package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgufBytes;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Imports the real stories260K llama and checks it against what the model is known to say. */
class LlamaImportTest {
    static final String EXPECTED = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
    static final int LAYERS = 5;
    static final int KV_HEADS = 4;
    static final int HEAD_DIM = 8;
    static final int VOCAB = 512;

    @TempDir
    static Path tmp;
    static Path dir;
    static OrtEnvironment env;
    static OrtSession session;

    @BeforeAll
    static void importOnce() throws OrtException {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        GgufImporter.Result result = GgufImporter.importModel(gguf, tmp.resolve("stories"), WeightFormat.F32, ImportFormat.ONNX);
        dir = result.directory();
        assertEquals(5, result.config().layers());
        assertFalse(result.externalData());
        env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(1);
            session = env.createSession(dir.resolve("model.onnx").toString(), options);
        }
    }

    @AfterAll
    static void close() throws OrtException {
        if (session != null) {
            session.close();
        }
    }

    @Test
    void writesAnOptimumShapedDirectory() throws Exception {
        try (var files = Files.list(dir)) {
            assertEquals(Set.of("model.onnx", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"),
                    files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        }
        JsonNode tokenizerConfig = new ObjectMapper().readTree(dir.resolve("tokenizer_config.json").toFile());
        assertEquals("<s>", tokenizerConfig.get("bos_token").asText());
        assertEquals("</s>", tokenizerConfig.get("eos_token").asText());
        assertEquals(false, tokenizerConfig.get("clean_up_tokenization_spaces").asBoolean());
        JsonNode config = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        assertEquals("llama", config.get("model_type").asText());
        assertEquals("LlamaForCausalLM", config.get("architectures").get(0).asText());
        assertEquals(64, config.get("hidden_size").asInt());
        assertEquals(5, config.get("num_hidden_layers").asInt());
        assertEquals(8, config.get("num_attention_heads").asInt());
        assertEquals(4, config.get("num_key_value_heads").asInt());
        assertEquals(172, config.get("intermediate_size").asInt());
        assertEquals(512, config.get("vocab_size").asInt());
        assertEquals(1e-5, config.get("rms_norm_eps").asDouble(), 1e-12);
        assertEquals(10000.0, config.get("rope_theta").asDouble());
        assertEquals(2048, config.get("max_position_embeddings").asInt());
        assertEquals(1, config.get("bos_token_id").asInt());
        assertEquals(2, config.get("eos_token_id").asInt());
        assertEquals("float32", config.get("torch_dtype").asText());

        Model model = ModelReader.read(dir);
        assertEquals(17, model.opset());
        List<String> inputs = model.graph().inputs().stream().map(Value::name).toList();
        assertEquals(List.of("input_ids", "attention_mask", "position_ids", "past_key_values.0.key", "past_key_values.0.value"),
                inputs.subList(0, 5));
        assertEquals(3 + 2 * LAYERS, inputs.size());
        List<String> outputs = model.graph().outputs().stream().map(Value::name).toList();
        assertEquals(List.of("logits", "present.0.key", "present.0.value"), outputs.subList(0, 3));
        assertEquals("present.4.value", outputs.get(outputs.size() - 1));
        Set<String> nodes = model.graph().nodes().stream().map(Node::name).collect(Collectors.toSet());
        for (String name : List.of("/model/embed_tokens/Gather", "/model/layers.0/input_layernorm/Pow",
                "/model/layers.0/input_layernorm/ReduceMean", "/model/layers.0/input_layernorm/Sqrt",
                "/model/layers.0/self_attn/q_proj/MatMul", "/model/layers.0/self_attn/o_proj/MatMul", "/model/layers.0/Add",
                "/model/layers.0/post_attention_layernorm/Mul_1", "/model/layers.3/mlp/gate_proj/MatMul",
                "/model/layers.3/mlp/up_proj/MatMul", "/model/layers.3/mlp/down_proj/MatMul", "/model/layers.4/Add_1",
                "/model/norm/Mul_1", "/lm_head/MatMul")) {
            assertTrue(nodes.contains(name), "node " + name);
        }
        Value q = model.graph().find("model.layers.2.self_attn.q_proj.weight").orElseThrow();
        assertArrayEquals(new long[] {64, 64}, q.initializer().dims());
        assertArrayEquals(new long[] {64, 172}, model.graph().find("model.layers.2.mlp.gate_proj.weight").orElseThrow().initializer().dims());
        assertArrayEquals(new long[] {172, 64}, model.graph().find("model.layers.2.mlp.down_proj.weight").orElseThrow().initializer().dims());
        assertTrue(model.metadata().get("onnx_steer.imported_sha256").startsWith("270cba1b"));
    }

    @Test
    void greedyDecodingFromBosTellsTheKnownStory() throws Exception {
        List<Long> full = greedyFullRecompute(40);
        List<Long> cached = greedyWithKvCache(40);
        assertEquals(full, cached, "KV-cached decoding picks the same tokens as full recompute");
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"))) {
            long[] ids = full.stream().mapToLong(Long::longValue).toArray();
            String text = tokenizer.decode(ids, true);
            assertTrue(text.startsWith(EXPECTED), "generated: " + text);
        }
    }

    @Test
    void leftPaddedBatchRowsMatchSingleRows() throws Exception {
        long[] a = {1, 403, 407, 261, 397};
        long[] b = {1, 403, 407};
        float[] aLogits = lastLogits(run(new long[][] {a}, new long[][] {{1, 1, 1, 1, 1}}, new long[][] {{0, 1, 2, 3, 4}}));
        float[] bLogits = lastLogits(run(new long[][] {b}, new long[][] {{1, 1, 1}}, new long[][] {{0, 1, 2}}));
        float[][] batch = lastLogitsBatch(run(new long[][] {a, {0, 0, 1, 403, 407}},
                new long[][] {{1, 1, 1, 1, 1}, {0, 0, 1, 1, 1}}, new long[][] {{0, 1, 2, 3, 4}, {1, 1, 0, 1, 2}}));
        assertArrayEquals(aLogits, batch[0], 1e-4f);
        assertArrayEquals(bLogits, batch[1], 1e-4f);
    }

    @Test
    void tokenizerRoundTripsAndMatchesTheGgufVocabulary() throws Exception {
        List<String> vocab;
        float[] scores;
        try (GgufFile gguf = GgufFile.open(TestPaths.sharedModel("stories260K/stories260K.gguf"))) {
            vocab = gguf.metadata().getStringArray("tokenizer.ggml.tokens");
            scores = gguf.metadata().getFloatArray("tokenizer.ggml.scores");
        }
        List<String> texts = List.of(EXPECTED, "héllo ✓ 日本", "Tom said, \"Let's go!\"  Then   he ran.", "x", " leading space",
                "Lily's dog was sad; the sun (big) shone.\nNew line\ttab", "ÿ€😀");
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"))) {
            for (String text : texts) {
                Encoding encoding = tokenizer.encode(text, false, false);
                long[] expected = SentencePieceReference.encode(text, vocab, scores);
                assertArrayEquals(expected, encoding.getIds(), "ids of \"" + text + "\"");
                assertEquals(text, tokenizer.decode(encoding.getIds(), true), "round trip");
            }
            Encoding withBos = tokenizer.encode("Once upon a time", true, false);
            assertEquals(1L, withBos.getIds()[0]);
            String bytes = Arrays.stream(tokenizer.encode("日", false, false).getTokens()).collect(Collectors.joining(" "));
            assertEquals("▁ <0xE6> <0x97> <0xA5>", bytes);
        }
    }

    @Test
    void refusesOtherArchitecturesAndNonEmptyOutput() throws Exception {
        Path falcon = tmp.resolve("falcon.gguf");
        Files.write(falcon, new GgufBytes().kvString("general.architecture", "falcon").build());
        BadModelException e = assertThrows(BadModelException.class, () -> GgufImporter.importModel(falcon, tmp.resolve("out")));
        assertEquals(falcon + ": has an unsupported architecture (expected general.architecture one of llama, qwen2, phi3, gemma, gemma2, found falcon)", e.getMessage());
        assertFalse(Files.exists(tmp.resolve("out")));

        Path llama = tmp.resolve("nokeys.gguf");
        Files.write(llama, new GgufBytes().kvString("general.architecture", "llama").build());
        e = assertThrows(BadModelException.class, () -> GgufImporter.importModel(llama, tmp.resolve("out")));
        assertEquals(llama + ": GGUF key llama.embedding_length is missing (expected a key of that name, found none among 1 keys)",
                e.getMessage());

        Path busy = tmp.resolve("busy");
        Files.createDirectories(busy);
        Files.write(busy.resolve("keep.txt"), "mine".getBytes(StandardCharsets.UTF_8));
        IllegalArgumentException iae = assertThrows(IllegalArgumentException.class,
                () -> GgufImporter.importModel(TestPaths.sharedModel("stories260K/stories260K.gguf"), busy));
        assertTrue(iae.getMessage().contains("exists and is not empty"), iae.getMessage());
        assertEquals("mine", Files.readString(busy.resolve("keep.txt")));
    }

    // --- ONNX Runtime helpers -------------------------------------------------------------------

    private static List<Long> greedyFullRecompute(int steps) throws OrtException {
        List<Long> ids = new ArrayList<>(List.of(1L));
        List<Long> generated = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            long[] row = ids.stream().mapToLong(Long::longValue).toArray();
            long[] ones = new long[row.length];
            Arrays.fill(ones, 1);
            long[] positions = new long[row.length];
            Arrays.setAll(positions, i -> i);
            Map<String, float[]> out = run(new long[][] {row}, new long[][] {ones}, new long[][] {positions});
            long next = argmax(lastLogits(out));
            generated.add(next);
            ids.add(next);
        }
        return generated;
    }

    private static List<Long> greedyWithKvCache(int steps) throws OrtException {
        List<Long> generated = new ArrayList<>();
        Map<String, OnnxTensor> past = emptyPast(1);
        long token = 1;
        try {
            for (int step = 0; step < steps; step++) {
                int total = step + 1;
                long[] mask = new long[total];
                Arrays.fill(mask, 1);
                Map<String, OnnxTensor> feeds = new HashMap<>(past);
                try (OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {token}), new long[] {1, 1});
                        OnnxTensor am = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, total});
                        OnnxTensor pos = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {step}), new long[] {1, 1})) {
                    feeds.put("input_ids", ids);
                    feeds.put("attention_mask", am);
                    feeds.put("position_ids", pos);
                    try (OrtSession.Result result = session.run(feeds)) {
                        float[] logits = floats((OnnxTensor) result.get("logits").orElseThrow());
                        token = argmax(logits);
                        generated.add(token);
                        Map<String, OnnxTensor> next = new HashMap<>();
                        for (int l = 0; l < LAYERS; l++) {
                            for (String kind : List.of("key", "value")) {
                                OnnxTensor present = (OnnxTensor) result.get("present." + l + "." + kind).orElseThrow();
                                assertArrayEquals(new long[] {1, KV_HEADS, total, HEAD_DIM}, present.getInfo().getShape());
                                next.put("past_key_values." + l + "." + kind, OnnxTensor.createTensor(env,
                                        FloatBuffer.wrap(floats(present)), present.getInfo().getShape()));
                            }
                        }
                        past.values().forEach(OnnxTensor::close);
                        past = next;
                    }
                }
            }
        } finally {
            past.values().forEach(OnnxTensor::close);
        }
        return generated;
    }

    /** Runs a prefill (empty cache) and returns every output as floats. */
    private static Map<String, float[]> run(long[][] ids, long[][] mask, long[][] positions) throws OrtException {
        int batch = ids.length;
        int seq = ids[0].length;
        Map<String, OnnxTensor> feeds = emptyPast(batch);
        try {
            feeds.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(flat(ids)), new long[] {batch, seq}));
            feeds.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(flat(mask)), new long[] {batch, mask[0].length}));
            feeds.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(flat(positions)), new long[] {batch, seq}));
            try (OrtSession.Result result = session.run(feeds)) {
                Map<String, float[]> out = new HashMap<>();
                OnnxTensor logits = (OnnxTensor) result.get("logits").orElseThrow();
                assertArrayEquals(new long[] {batch, seq, VOCAB}, logits.getInfo().getShape());
                out.put("logits", floats(logits));
                out.put("batch", new float[] {batch});
                return out;
            }
        } finally {
            feeds.values().forEach(OnnxTensor::close);
        }
    }

    private static Map<String, OnnxTensor> emptyPast(int batch) throws OrtException {
        Map<String, OnnxTensor> past = new HashMap<>();
        for (int l = 0; l < LAYERS; l++) {
            for (String kind : List.of("key", "value")) {
                past.put("past_key_values." + l + "." + kind,
                        OnnxTensor.createTensor(env, FloatBuffer.allocate(0), new long[] {batch, KV_HEADS, 0, HEAD_DIM}));
            }
        }
        return past;
    }

    private static float[] lastLogits(Map<String, float[]> out) {
        return lastLogitsBatch(out)[0];
    }

    private static float[][] lastLogitsBatch(Map<String, float[]> out) {
        float[] logits = out.get("logits");
        int batch = (int) out.get("batch")[0];
        int seq = logits.length / batch / VOCAB;
        float[][] rows = new float[batch][];
        for (int b = 0; b < batch; b++) {
            int start = (b * seq + seq - 1) * VOCAB;
            rows[b] = Arrays.copyOfRange(logits, start, start + VOCAB);
        }
        return rows;
    }

    private static float[] floats(OnnxTensor tensor) {
        FloatBuffer buffer = tensor.getFloatBuffer();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    private static long argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    private static long[] flat(long[][] rows) {
        return Arrays.stream(rows).flatMapToLong(Arrays::stream).toArray();
    }
}
