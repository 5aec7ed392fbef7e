package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxJavaType;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Generation on the onnxruntime-genai builder fixtures (testdata/README.md, "Deployment flavours"): the builder's
 * float32 graph gives the standard-op graph's greedy tokens from the same weights, batched with unequal prompts
 * as well as alone, and with the KV cache as with full recompute.
 */
class GenaiFixtureGenerationTest {
    private static final List<long[]> PROMPTS = List.of(new long[] {1, 17, 200, 42}, new long[] {1, 99, 31},
            new long[] {1, 7, 3, 3, 120, 4, 20, 11, 250});
    /** Greedy with a repetition penalty, so the random weights do not settle on one token. */
    private static final GenerationConfig GREEDY = GenerationConfig.greedy(24).withEosTokenIds(List.of(-1L))
            .withSampling(new SamplingConfig(0, 0, 1, 1.3, OptionalLong.empty()));

    private static List<List<Long>> tokens(Path dir, GenerationConfig config, List<long[]> prompts) {
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
            Generator generator = Generator.create(session, null, ModelConfig.load(dir));
            return generator.generateIds(prompts, config, ExtraInputs.NONE, TokenListener.NONE).stream()
                    .map(Generation::tokenIds).toList();
        }
    }

    private static List<List<Long>> probed(Path dir, GenerationConfig config, List<float[]> logits) {
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
            Generator generator = Generator.create(session, null, ModelConfig.load(dir));
            generator.logitsProbe = (step, row, values) -> logits.add(values);
            return generator.generateIds(PROMPTS, config, ExtraInputs.NONE, TokenListener.NONE).stream()
                    .map(Generation::tokenIds).toList();
        }
    }

    @ParameterizedTest
    @CsvSource({"llama-tiny-genai, llama-tiny", "llama-hs16-genai, llama-hs16"})
    void builderFloat32GivesTheStandardOpGraphsGreedyTokens(String builder, String standard) {
        Path builderDir = TestPaths.testdata().resolve(builder);
        Path standardDir = TestPaths.testdata().resolve(standard);
        try (ModelSession session = SessionFactory.open(builderDir.resolve("model.onnx"), SessionConfig.cpu())) {
            ModelLayout layout = Generator.create(session, null, ModelConfig.load(builderDir)).layout();
            assertEquals(TokenGrid.Alignment.RIGHT, layout.alignment());
            assertTrue(layout.positionIds().isEmpty(), "the builder layout has no position_ids");
        }
        List<List<Long>> expected = tokens(standardDir, GREEDY, PROMPTS);
        List<List<Long>> batched = tokens(builderDir, GREEDY, PROMPTS);
        assertEquals(expected, batched, "builder vs standard-op, batched");
        assertEquals(batched, tokens(builderDir, GREEDY.withUseCache(false), PROMPTS), "KV cache vs full recompute");
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertEquals(expected.get(i), tokens(builderDir, GREEDY, List.of(PROMPTS.get(i))).get(0), "row " + i + " alone");
            assertTrue(new HashSet<>(expected.get(i)).size() > 3, "tokens vary: " + expected.get(i));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny-genai-int4", "llama-tiny-genai-q4f16"})
    void quantisedBuilderGraphsGenerateTheSameTokensCachedAndRecomputed(String name) {
        Path dir = TestPaths.testdata().resolve(name);
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
            ModelLayout layout = Generator.create(session, null, ModelConfig.load(dir)).layout();
            OnnxJavaType cacheType = name.endsWith("q4f16") ? OnnxJavaType.FLOAT16 : OnnxJavaType.FLOAT;
            assertEquals(cacheType, layout.cache().get(0).type());
        }
        // block-quantised matmuls accumulate in another order for one new row than for a whole sequence, so a
        // near tie may break differently late in a long run: compare the first tokens and every logit until then
        GenerationConfig config = GREEDY.withMaxTokens(12);
        List<float[]> cachedLogits = new java.util.ArrayList<>();
        List<float[]> recomputedLogits = new java.util.ArrayList<>();
        List<List<Long>> cached = probed(dir, config, cachedLogits);
        assertEquals(cached, probed(dir, config.withUseCache(false), recomputedLogits));
        double worst = 0;
        double scale = 0;
        for (int k = 0; k < cachedLogits.size(); k++) {
            for (int v = 0; v < cachedLogits.get(k).length; v++) {
                worst = Math.max(worst, Math.abs(cachedLogits.get(k)[v] - recomputedLogits.get(k)[v]));
                scale = Math.max(scale, Math.abs(cachedLogits.get(k)[v]));
            }
        }
        assertTrue(worst <= 1e-5 * Math.max(1, scale), name + ": cached and recomputed logits differ by " + worst);
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertEquals(cached.get(i), tokens(dir, config, List.of(PROMPTS.get(i))).get(0), "row " + i + " alone");
        }
    }
}
