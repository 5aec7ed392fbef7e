package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The in-place KV cache of GroupQueryAttention graphs ({@link KvCache#inPlace}) generates what the cache of ONNX
 * Runtime's own presents generates ({@link Generator#withInPlaceCache} false, the independent path): the same token
 * ids and bit for bit the same logits at every step, alone and in a batch of unequal prompts (right-aligned), on
 * genai imports of stories260K and the tiny llama, plain and steered in {@code input} and {@code add} mode.
 */
class InPlaceCacheGenerationTest {
    private static final List<long[]> BATCH = List.of(new long[] {1, 403, 407, 261, 1125, 29892}, new long[] {1},
            new long[] {1, 9038, 2501});
    private static final GenerationConfig GREEDY = GenerationConfig.greedy(40).withEosTokenIds(List.of(-1L));

    @TempDir
    static Path tmp;
    private static Path stories;
    private static Path tinyLlama;

    @BeforeAll
    static void importModels() {
        stories = imported("stories260K/stories260K.gguf", ImportFormat.GENAI);
        tinyLlama = imported("tiny-llama-quants/tiny-llama-F32.gguf", ImportFormat.GENAI);
    }

    private static Path imported(String gguf, ImportFormat format) {
        Path dir = tmp.resolve(Path.of(gguf).getFileName() + "-" + format.label());
        GgufImporter.importModel(TestPaths.sharedModel(gguf), dir, WeightFormat.F32, format);
        return dir;
    }

    /** Token ids and every step's logits of each row, in the order the probe saw them. */
    private record Run(List<List<Long>> tokens, List<float[]> logits) {}

    private static Run run(Generator generator, List<long[]> prompts) {
        List<float[]> logits = new ArrayList<>();
        generator.observeLogits((step, row, values) -> logits.add(values));
        List<List<Long>> tokens = generator.generateIds(prompts, GREEDY, ExtraInputs.NONE, TokenListener.NONE).stream()
                .map(Generation::tokenIds).toList();
        generator.observeLogits(null);
        return new Run(tokens, logits);
    }

    private static void assertSameAsOwnPresents(ModelSession session, ModelConfig config, String label) {
        Generator inPlace = Generator.create(session, null, config);
        assertTrue(inPlace.layout().inPlaceCache(), label + ": every past feeds a GroupQueryAttention in place");
        Generator own = inPlace.withInPlaceCache(false);
        int vocab = inPlace.vocabSize().getAsInt();
        List<long[]> batch = BATCH.stream().map(p -> java.util.Arrays.stream(p).map(t -> t % vocab).toArray()).toList();
        for (List<long[]> prompts : List.of(List.of(batch.get(0)), batch)) {
            Run expected = run(own, prompts);
            Run actual = run(inPlace, prompts);
            assertEquals(expected.tokens(), actual.tokens(), label + ", " + prompts.size() + " rows: token ids");
            assertEquals(expected.logits().size(), actual.logits().size());
            for (int i = 0; i < expected.logits().size(); i++) {
                assertArrayEquals(expected.logits().get(i), actual.logits().get(i), 0f,
                        label + ", " + prompts.size() + " rows: logits " + i);
            }
            assertTrue(new HashSet<>(actual.tokens().get(0)).size() > 5, "tokens vary: " + actual.tokens().get(0));
        }
    }

    @Test
    void genaiImportsGenerateTheSameTokensAndLogitsInPlace() {
        for (Path dir : List.of(stories, tinyLlama)) {
            try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
                assertSameAsOwnPresents(session, ModelConfig.load(dir), dir.getFileName().toString());
            }
        }
    }

    @Test
    void steeredGenaiImportsGenerateTheSameTokensAndLogitsInPlace() {
        Random random = new Random(16);
        float[] vector = new float[64];
        for (int i = 0; i < vector.length; i++) {
            vector[i] = (float) random.nextGaussian();
        }
        List<Steering> steering = List.of(new Steering(SiteKind.RESID_POST, 2, vector, 0.5f));
        for (Mode mode : List.of(Mode.INPUT, Mode.ADD)) {
            Compilation.Result compiled = Compilation.compile(ModelFiles.locate(stories, null), steering, mode);
            try (ModelSession session = SessionFactory.open(compiled.model(), "stories-" + mode, SessionConfig.cpu())) {
                assertSameAsOwnPresents(session, ModelConfig.load(stories), "stories260K steered, " + mode);
            }
        }
    }

    /**
     * A prefill bound to an in-place cache leaves its keys in the caller's buffer, the same as ONNX Runtime's own
     * present; a run past the buffer's capacity is refused with the capacity named, not run on a short buffer.
     */
    @Test
    void theModelWritesIntoTheBufferAndARunPastItsCapacityIsRefused() throws Exception {
        try (ModelSession session = SessionFactory.open(stories.resolve("model.onnx"), SessionConfig.cpu())) {
            ModelLayout layout = ModelLayout.detect(session, ModelConfig.load(stories).decoder());
            long[] prompt = BATCH.get(0).clone();
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] %= 512;
            }
            TokenGrid grid = new TokenGrid(List.of(prompt), 1, layout.alignment(), 0);
            StepFeeds feeds = StepFeeds.forLayout(layout);
            ModelLayout.CacheSlot key = layout.cache().get(0);
            float[] own;
            try (KvCache cache = new KvCache(layout, 1, true, "own");
                    StepFeeds.StepInputs inputs = feeds.build(grid, grid.window(0), cache, java.util.Map.of());
                    ai.onnxruntime.OrtSession.Result result = session.ort().run(inputs.feeds())) {
                own = floats(cache.tensor(result, key.present()));
            }
            try (KvCache cache = KvCache.inPlace(layout, 1, prompt.length, "in place");
                    StepFeeds.StepInputs inputs = feeds.build(grid, grid.window(0), cache, java.util.Map.of())) {
                var pins = cache.pins(grid.width());
                assertEquals(java.util.Set.of(key.present()), java.util.Set.of(key.present()).stream()
                        .filter(pins::containsKey).collect(java.util.stream.Collectors.toSet()));
                try (ai.onnxruntime.OrtSession.Result result = session.ort().run(inputs.feeds(), java.util.Set.of(layout.logits()), pins)) {
                    assertArrayEquals(own, floats(cache.past(0)), 0f, "keys written into the buffer in place");
                    assertTrue(own.length > 0 && maxAbs(own) > 0, "the prompt's keys are not all zero");
                }
                grid.append(new long[] {1});
                var refused = org.junit.jupiter.api.Assertions.assertThrows(dev.onnxsteer.InferenceException.class,
                        () -> cache.pins(grid.width()));
                assertEquals("the in-place KV cache of in place holds " + prompt.length
                        + " positions but the next run needs " + (prompt.length + 1), refused.getMessage());
            }
        }
    }

    private static float[] floats(ai.onnxruntime.OnnxTensor tensor) {
        java.nio.FloatBuffer buffer = tensor.getFloatBuffer();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    private static float maxAbs(float[] values) {
        float max = 0;
        for (float v : values) {
            max = Math.max(max, Math.abs(v));
        }
        return max;
    }

    @Test
    void standardOpImportsKeepTheCacheOfOwnPresents() {
        Path onnx = imported("stories260K/stories260K.gguf", ImportFormat.ONNX);
        try (ModelSession session = SessionFactory.open(onnx.resolve("model.onnx"), SessionConfig.cpu())) {
            assertTrue(session.inPlaceCache().isEmpty(), session.inPlaceCache().toString());
            assertFalse(Generator.create(session, null, ModelConfig.load(onnx)).layout().inPlaceCache());
        }
    }
}
