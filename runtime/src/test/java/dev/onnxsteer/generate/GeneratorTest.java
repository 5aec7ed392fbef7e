package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Generation on the shared fused GPT-2 ({@code past_N} [2, batch, 4, past, 8], int32 inputs). */
class GeneratorTest {
    private static final List<String> PROMPTS = List.of(
            "Once upon a time", "The cat sat on the mat and", "Hi", "A quick brown fox jumps over the lazy dog.");
    /** High temperature so the random model's output varies from token to token. */
    private static final SamplingConfig HOT = SamplingConfig.temperature(2.0, 1234);

    @TempDir
    static Path tmp;
    private static ModelSession session;
    private static Tokenizer tokenizer;
    private static Generator generator;

    @BeforeAll
    static void open() {
        ModelConfig config = ModelConfig.load(TinyGpt2.dir());
        session = SessionFactory.open(TinyGpt2.model(), SessionConfig.cpu().withThreads(1, 1));
        tokenizer = Tokenizer.load(TinyGpt2.writeTrimmedTokenizer(tmp.resolve("tok")), config);
        generator = Generator.create(session, tokenizer, config);
    }

    @AfterAll
    static void close() {
        if (tokenizer != null) {
            tokenizer.close();
        }
        if (session != null) {
            session.close();
        }
    }

    @Test
    void detectsTheCombinedLayout() {
        ModelLayout layout = generator.layout();
        assertEquals(ModelLayout.Kind.COMBINED, layout.kind());
        assertEquals(5, layout.cache().size());
        assertEquals("past_0", layout.cache().get(0).past());
        assertEquals("present_4", layout.cache().get(4).present());
        assertArrayEquals(new long[] {2, 3, 4, 0, 8}, layout.cache().get(0).shapeFor(3, 0));
        assertEquals(ai.onnxruntime.OnnxJavaType.INT32, layout.idType());
        assertEquals(ai.onnxruntime.OnnxJavaType.INT32, layout.maskType());
        assertEquals(OptionalInt.of(1000), layout.vocabSize());
        assertEquals(List.of(98L), tokenizer.eosTokenIds());
    }

    @Test
    void cachedGenerationEqualsFullRecomputeTokenForTokenAndLogitForLogit() {
        for (String prompt : PROMPTS) {
            GenerationConfig config = GenerationConfig.greedy(16).withSampling(HOT).withEosTokenIds(List.of(-1L));
            List<float[]> cachedLogits = new ArrayList<>();
            List<float[]> recomputedLogits = new ArrayList<>();
            Generation cached = withProbe(cachedLogits, () -> generator.generate(List.of(prompt), config)).get(0);
            Generation recomputed = withProbe(recomputedLogits,
                    () -> generator.generate(List.of(prompt), config.withUseCache(false))).get(0);
            assertEquals(16, cached.generatedTokens());
            assertEquals(cached.tokenIds(), recomputed.tokenIds(), prompt);
            assertEquals(cached.text(), recomputed.text());
            assertTrue(new HashSet<>(cached.tokenIds()).size() > 4, "sampling should vary: " + cached.tokenIds());
            assertEquals(cachedLogits.size(), recomputedLogits.size());
            for (int step = 0; step < cachedLogits.size(); step++) {
                assertClose(cachedLogits.get(step), recomputedLogits.get(step), 1e-4f, prompt + " step " + step);
            }
        }
    }

    @Test
    void threadCountSpinningAndArenaDoNotChangeTheTokens() {
        GenerationConfig config = GenerationConfig.greedy(12).withEosTokenIds(List.of(-1L));
        List<Generation> reference = generator.generate(PROMPTS, config);
        ModelConfig modelConfig = ModelConfig.load(TinyGpt2.dir());
        try (ModelSession other = SessionFactory.open(TinyGpt2.model(), SessionConfig.cpu().withThreads(2, 1).withSpinning(false)
                .withMemoryArena(false))) {
            List<Generation> sleeping = Generator.create(other, tokenizer, modelConfig).generate(PROMPTS, config);
            for (int i = 0; i < PROMPTS.size(); i++) {
                assertEquals(reference.get(i).tokenIds(), sleeping.get(i).tokenIds(), PROMPTS.get(i));
            }
        }
    }

    @Test
    void greedyCachedEqualsRecompute() {
        GenerationConfig config = GenerationConfig.greedy(12).withEosTokenIds(List.of(-1L));
        List<Generation> cached = generator.generate(PROMPTS, config);
        List<Generation> recomputed = generator.generate(PROMPTS, config.withUseCache(false));
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertEquals(cached.get(i).tokenIds(), recomputed.get(i).tokenIds());
        }
    }

    @Test
    void batchWithLeftPaddingEqualsOneByOne() {
        GenerationConfig config = GenerationConfig.greedy(12).withSampling(HOT).withEosTokenIds(List.of(-1L));
        List<float[]> batchLogits = new ArrayList<>();
        List<Generation> batched = withProbe(batchLogits, () -> generator.generate(PROMPTS, config));
        int rows = PROMPTS.size();
        for (int i = 0; i < rows; i++) {
            List<float[]> singleLogits = new ArrayList<>();
            int row = i;
            Generation single = withProbe(singleLogits, () -> generator.generate(List.of(PROMPTS.get(row)), config)).get(0);
            assertEquals(single.tokenIds(), batched.get(i).tokenIds(), PROMPTS.get(i));
            assertEquals(single.text(), batched.get(i).text());
            assertEquals(single.promptTokens(), batched.get(i).promptTokens());
            for (int step = 0; step < singleLogits.size(); step++) {
                assertClose(singleLogits.get(step), batchLogits.get(step * rows + i), 1e-4f, "row " + i + " step " + step);
            }
        }
        // the prompts really have different lengths, so padding was exercised
        assertTrue(batched.get(2).promptTokens() < batched.get(3).promptTokens());
    }

    @Test
    void batchRowsFinishIndependently() {
        GenerationConfig config = GenerationConfig.greedy(10).withEosTokenIds(List.of(-1L));
        List<Generation> alone = generator.generate(PROMPTS, config);
        // row 1 ends with EOS at its 3rd token; the other rows go on unchanged
        long eos = firstNew(alone.get(1).tokenIds(), 2);
        int cut = alone.get(1).tokenIds().indexOf(eos);
        List<Generation> batched = generator.generate(PROMPTS, config.withEosTokenIds(List.of(eos)));
        assertEquals(FinishReason.EOS, batched.get(1).finishReason());
        assertEquals(alone.get(1).tokenIds().subList(0, cut), batched.get(1).tokenIds());
        for (int i : new int[] {0, 2, 3}) {
            if (!alone.get(i).tokenIds().contains(eos)) {
                assertEquals(alone.get(i).tokenIds(), batched.get(i).tokenIds());
                assertEquals(FinishReason.LENGTH, batched.get(i).finishReason());
            }
        }
    }

    @Test
    void rowsWithTheirOwnSettingsEqualEachRowAlone() {
        List<GenerationConfig> configs = List.of(
                GenerationConfig.greedy(6).withEosTokenIds(List.of(-1L)),
                GenerationConfig.greedy(14).withSampling(HOT).withEosTokenIds(List.of(-1L)),
                GenerationConfig.greedy(9).withSampling(SamplingConfig.temperature(1.5, 77)).withEosTokenIds(List.of(-1L)),
                GenerationConfig.greedy(11).withSampling(new SamplingConfig(1.2, 20, 0.9, 1.3, OptionalLong.of(5)))
                        .withEosTokenIds(List.of(-1L)));
        List<Generator.RowRequest> rows = new ArrayList<>();
        for (int i = 0; i < PROMPTS.size(); i++) {
            rows.add(new Generator.RowRequest(PROMPTS.get(i), tokenizer.encode(PROMPTS.get(i), true), configs.get(i), null));
        }
        List<Generation> batched = generator.generateRows(rows, ExtraInputs.NONE, TokenListener.NONE);
        for (int i = 0; i < PROMPTS.size(); i++) {
            Generation alone = generator.generate(List.of(PROMPTS.get(i)), configs.get(i)).get(0);
            assertEquals(alone.tokenIds(), batched.get(i).tokenIds(), PROMPTS.get(i));
            assertEquals(configs.get(i).maxTokens(), batched.get(i).generatedTokens());
            assertEquals(FinishReason.LENGTH, batched.get(i).finishReason());
        }
    }

    @Test
    void aCancelledRowStopsWhileTheOthersGoOn() {
        GenerationConfig config = GenerationConfig.greedy(12).withEosTokenIds(List.of(-1L));
        int[] heard = new int[2];
        boolean[] stop = {false};
        List<Generator.RowRequest> rows = List.of(
                new Generator.RowRequest(PROMPTS.get(0), tokenizer.encode(PROMPTS.get(0), true), config, () -> stop[0]),
                new Generator.RowRequest(PROMPTS.get(1), tokenizer.encode(PROMPTS.get(1), true), config, null));
        List<Generation> out = generator.generateRows(rows, ExtraInputs.NONE, (row, id, piece) -> {
            heard[row]++;
            stop[0] |= row == 0 && heard[0] == 3;
        });
        assertEquals(FinishReason.CANCELLED, out.get(0).finishReason());
        assertEquals(3, out.get(0).generatedTokens());
        assertEquals(3, heard[0], "nothing is heard from a cancelled row");
        assertEquals(tokenizer.decode(out.get(0).tokenIdArray(), true), out.get(0).text());
        assertEquals(generator.generate(List.of(PROMPTS.get(1)), config).get(0).tokenIds(), out.get(1).tokenIds());
        assertEquals(FinishReason.LENGTH, out.get(1).finishReason());
    }

    @Test
    void sameSeedSameTokensDifferentSeedsDiffer() {
        GenerationConfig config = GenerationConfig.greedy(20).withEosTokenIds(List.of(-1L));
        List<Long> a = generator.generate(List.of(PROMPTS.get(0)), config.withSampling(SamplingConfig.temperature(1.5, 7)))
                .get(0).tokenIds();
        List<Long> b = generator.generate(List.of(PROMPTS.get(0)), config.withSampling(SamplingConfig.temperature(1.5, 7)))
                .get(0).tokenIds();
        List<Long> c = generator.generate(List.of(PROMPTS.get(0)), config.withSampling(SamplingConfig.temperature(1.5, 8)))
                .get(0).tokenIds();
        assertEquals(a, b);
        assertNotEquals(a, c);
        List<Long> greedy = generator.generate(List.of(PROMPTS.get(0)), config).get(0).tokenIds();
        assertNotEquals(greedy, a);
    }

    @Test
    void maxTokensFinishesWithLength() {
        Generation g = generator.generate(List.of("Hello"), GenerationConfig.greedy(5).withEosTokenIds(List.of(-1L)))
                .get(0);
        assertEquals(FinishReason.LENGTH, g.finishReason());
        assertEquals(5, g.generatedTokens());
        assertEquals(5, g.tokenIds().size());
        assertEquals(tokenizer.encode("Hello", true).length, g.promptTokens());
        assertEquals(tokenizer.decode(g.tokenIdArray(), true), g.text());
    }

    @Test
    void eosFinishesWithEosAndIsNotOutput() {
        GenerationConfig config = GenerationConfig.greedy(16).withSampling(HOT).withEosTokenIds(List.of(-1L));
        Generation full = generator.generate(List.of(PROMPTS.get(1)), config).get(0);
        long eos = firstNew(full.tokenIds(), 3);
        int cut = full.tokenIds().indexOf(eos);
        Generation stopped = generator.generate(List.of(PROMPTS.get(1)), config.withEosTokenIds(List.of(eos))).get(0);
        assertEquals(FinishReason.EOS, stopped.finishReason());
        assertEquals(full.tokenIds().subList(0, cut), stopped.tokenIds());
        assertEquals(cut, stopped.generatedTokens());
    }

    @Test
    void stopStringFinishesWithStopAndCutsTheText() {
        GenerationConfig config = GenerationConfig.greedy(16).withSampling(HOT).withEosTokenIds(List.of(-1L));
        Generation full = generator.generate(List.of(PROMPTS.get(0)), config).get(0);
        String text = full.text();
        assertTrue(text.length() > 10, text);
        String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
        int at = text.indexOf(stop);
        StringBuilder streamed = new StringBuilder();
        Generation stopped = generator.generate(List.of(PROMPTS.get(0)), config.withStopStrings(List.of("@@never", stop)),
                ExtraInputs.NONE, (row, id, piece) -> streamed.append(piece)).get(0);
        assertEquals(FinishReason.STOP, stopped.finishReason());
        assertEquals(text.substring(0, at), stopped.text());
        assertEquals(stopped.text(), streamed.toString(), "streaming never shows the stop string");
        assertTrue(stopped.generatedTokens() < full.generatedTokens());
        assertEquals(full.tokenIds().subList(0, stopped.generatedTokens()), stopped.tokenIds());
    }

    @Test
    void streamingDeliversEveryTokenAndTheWholeText() {
        Map<Integer, StringBuilder> text = new HashMap<>();
        Map<Integer, List<Long>> ids = new HashMap<>();
        List<Generation> result = generator.generate(PROMPTS,
                GenerationConfig.greedy(9).withSampling(HOT).withEosTokenIds(List.of(-1L)), ExtraInputs.NONE,
                (row, tokenId, piece) -> {
                    text.computeIfAbsent(row, r -> new StringBuilder()).append(piece);
                    ids.computeIfAbsent(row, r -> new ArrayList<>()).add(tokenId);
                });
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertEquals(result.get(i).text(), text.get(i).toString());
            assertEquals(result.get(i).tokenIds(), ids.get(i));
            assertEquals(PROMPTS.get(i), result.get(i).prompt());
        }
    }

    @Test
    void extraInputsAreAskedForEveryRunAndMayNotReplaceGenerationInputs() {
        List<ExtraInputs.Step> steps = new ArrayList<>();
        generator.generate(List.of("ab", "abcd efgh"), GenerationConfig.greedy(4).withEosTokenIds(List.of(-1L)),
                step -> {
                    steps.add(step);
                    return Map.of();
                }, TokenListener.NONE);
        int prompt = tokenizer.encode("abcd efgh", true).length;
        assertEquals(List.of(new ExtraInputs.Step(0, 2, prompt, 0), new ExtraInputs.Step(1, 2, 1, prompt),
                new ExtraInputs.Step(2, 2, 1, prompt + 1), new ExtraInputs.Step(3, 2, 1, prompt + 2)), steps);

        try (ai.onnxruntime.OnnxTensor ids = ai.onnxruntime.OnnxTensor.createTensor(
                dev.onnxsteer.session.Ort.env(), new int[][] {{1}})) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> generator.generate(
                    List.of("ab"), GenerationConfig.greedy(2), ExtraInputs.constant(Map.of("input_ids", ids)),
                    TokenListener.NONE));
            assertTrue(e.getMessage().contains("input_ids"), e.getMessage());
        } catch (ai.onnxruntime.OrtException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void modelFromBytesGeneratesTheSameTokens() throws Exception {
        byte[] bytes = Files.readAllBytes(TinyGpt2.model());
        GenerationConfig config = GenerationConfig.greedy(8).withSampling(HOT).withEosTokenIds(List.of(-1L));
        try (ModelSession fromBytes = SessionFactory.open(bytes, "past.onnx (in memory)", SessionConfig.cpu())) {
            Generator other = Generator.create(fromBytes, tokenizer, ModelConfig.load(TinyGpt2.dir()));
            List<Generation> expected = generator.generate(PROMPTS, config);
            List<Generation> actual = other.generate(PROMPTS, config);
            for (int i = 0; i < PROMPTS.size(); i++) {
                assertEquals(expected.get(i).tokenIds(), actual.get(i).tokenIds());
                assertEquals(expected.get(i).text(), actual.get(i).text());
            }
        }
    }

    @Test
    void generationFromIdsWithoutTokenizer() {
        Generator idsOnly = new Generator(session.ort(), "past.onnx", generator.layout(), null, ModelConfig.EMPTY);
        long[] prompt = tokenizer.encode(PROMPTS.get(0), true);
        GenerationConfig config = GenerationConfig.greedy(6).withSampling(HOT).withEosTokenIds(List.of(-1L));
        Generation g = idsOnly.generateIds(List.of(prompt), config, ExtraInputs.NONE, TokenListener.NONE).get(0);
        assertEquals(generator.generate(List.of(PROMPTS.get(0)), config).get(0).tokenIds(), g.tokenIds());
        assertEquals("", g.text());
        assertThrows(IllegalArgumentException.class, () -> idsOnly.generateIds(List.of(new long[] {5, 1000}),
                config, ExtraInputs.NONE, TokenListener.NONE));
    }

    @Test
    void promptLongerThanTheContextIsRefusedNamingBothNumbers() {
        ModelConfig small = new ModelConfig(OptionalInt.of(1000), OptionalInt.of(4), OptionalLong.empty(), List.of(98L),
                OptionalLong.empty(), "config.json");
        Generator g = new Generator(session.ort(), "past.onnx", generator.layout(), tokenizer, small);
        InferenceException e = assertThrows(InferenceException.class,
                () -> g.generate(List.of("a long prompt with many tokens"), GenerationConfig.greedy(3)));
        assertTrue(e.getMessage().contains("4 tokens"), e.getMessage());
        int tokens = tokenizer.encode("a long prompt with many tokens", true).length;
        assertTrue(e.getMessage().contains(tokens + " tokens"), e.getMessage());
        // a prompt that fits stops with length when the context is full
        Generation fits = g.generate(List.of("ab"), GenerationConfig.greedy(10).withEosTokenIds(List.of(-1L))).get(0);
        assertEquals(FinishReason.LENGTH, fits.finishReason());
        assertEquals(4 - fits.promptTokens(), fits.generatedTokens());
    }

    @Test
    void aTokenizerBiggerThanTheModelIsRefused() {
        try (Tokenizer gpt2 = Tokenizer.load(TinyGpt2.dir())) {
            BadModelException e = assertThrows(BadModelException.class,
                    () -> Generator.create(session, gpt2, ModelConfig.load(TinyGpt2.dir())));
            assertTrue(e.getMessage().contains("50295") && e.getMessage().contains("1000"), e.getMessage());
            assertTrue(!e.getMessage().contains("\n"));
        }
    }

    private static <T> T withProbe(List<float[]> sink, java.util.function.Supplier<T> run) {
        generator.logitsProbe = (step, row, logits) -> sink.add(logits);
        try {
            return run.get();
        } finally {
            generator.logitsProbe = null;
        }
    }

    /** The first token at index >= from that did not occur earlier in the list. */
    private static long firstNew(List<Long> ids, int from) {
        for (int i = from; i < ids.size(); i++) {
            if (!ids.subList(0, i).contains(ids.get(i))) {
                return ids.get(i);
            }
        }
        throw new AssertionError("no new token after index " + from + " in " + ids);
    }

    private static void assertClose(float[] expected, float[] actual, float tolerance, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tolerance, what + " logit " + i);
        }
    }
}
