package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.List;
import java.util.OptionalInt;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** The Optimum and no-cache layouts on graphs built by {@link TinyKvModels}: same weights, same tokens. */
class LayoutsTest {
    private static final ModelConfig CONFIG = new ModelConfig(OptionalInt.of(TinyKvModels.VOCAB),
            OptionalInt.of(TinyKvModels.MAX_POSITIONS), OptionalLong.of(1), List.of(-1L), OptionalLong.of(0), "test");
    private static final List<long[]> PROMPTS = List.of(new long[] {1, 5, 9}, new long[] {1, 2}, new long[] {1, 7, 3, 3, 12, 4});

    @Test
    void optimumCachedEqualsRecomputeEqualsNoCacheModelAndBatchEqualsSingle() {
        try (ModelSession optimum = SessionFactory.open(TinyKvModels.optimum(), "tiny-optimum.onnx", SessionConfig.cpu());
                ModelSession noCache = SessionFactory.open(TinyKvModels.noCache(), "tiny-no-cache.onnx", SessionConfig.cpu())) {
            Generator kv = Generator.create(optimum, null, CONFIG);
            Generator full = Generator.create(noCache, null, CONFIG);
            assertEquals(ModelLayout.Kind.OPTIMUM, kv.layout().kind());
            assertEquals(OnnxJavaType.INT64, kv.layout().idType());
            assertEquals(List.of("past_key_values.0.key", "past_key_values.0.value"),
                    kv.layout().cache().stream().map(ModelLayout.CacheSlot::past).toList());
            assertEquals("present.0.value", kv.layout().cache().get(1).present());
            assertEquals(ModelLayout.Kind.NO_CACHE, full.layout().kind());

            GenerationConfig config = GenerationConfig.greedy(20).withSampling(SamplingConfig.temperature(1.0, 5));
            List<Generation> cached = kv.generateIds(PROMPTS, config, ExtraInputs.NONE, TokenListener.NONE);
            List<Generation> recomputed = kv.generateIds(PROMPTS, config.withUseCache(false), ExtraInputs.NONE,
                    TokenListener.NONE);
            List<Generation> noCacheModel = full.generateIds(PROMPTS, config, ExtraInputs.NONE, TokenListener.NONE);
            for (int i = 0; i < PROMPTS.size(); i++) {
                List<Long> tokens = cached.get(i).tokenIds();
                assertEquals(20, tokens.size());
                assertTrue(new HashSet<>(tokens).size() > 3, tokens.toString());
                assertEquals(tokens, recomputed.get(i).tokenIds(), "row " + i);
                assertEquals(tokens, noCacheModel.get(i).tokenIds(), "row " + i);
                Generation single = kv.generateIds(List.of(PROMPTS.get(i)), config, ExtraInputs.NONE, TokenListener.NONE)
                        .get(0);
                assertEquals(tokens, single.tokenIds(), "batched row " + i + " equals the row alone");
            }
            // greedy as well, on the no-cache model against the cached one
            GenerationConfig greedy = GenerationConfig.greedy(10);
            assertEquals(kv.generateIds(PROMPTS, greedy, ExtraInputs.NONE, TokenListener.NONE).get(2).tokenIds(),
                    full.generateIds(PROMPTS, greedy, ExtraInputs.NONE, TokenListener.NONE).get(2).tokenIds());
        }
    }

    @Test
    void contextLimitEndsGenerationWithLength() {
        try (ModelSession optimum = SessionFactory.open(TinyKvModels.optimum(), "tiny-optimum.onnx", SessionConfig.cpu())) {
            Generation g = Generator.create(optimum, null, CONFIG).generateIds(List.of(PROMPTS.get(2)),
                    GenerationConfig.greedy(100), ExtraInputs.NONE, TokenListener.NONE).get(0);
            assertEquals(FinishReason.LENGTH, g.finishReason());
            assertEquals(TinyKvModels.MAX_POSITIONS - PROMPTS.get(2).length, g.generatedTokens());
        }
    }

    @Test
    void extraInputsFeedAGraphInputThatGenerationDoesNot() throws Exception {
        try (ModelSession plain = SessionFactory.open(TinyKvModels.noCache(), "plain.onnx", SessionConfig.cpu());
                ModelSession steerable = SessionFactory.open(TinyKvModels.noCacheWithSteeringInput(), "steer.onnx",
                        SessionConfig.cpu())) {
            Generator base = Generator.create(plain, null, CONFIG);
            Generator steered = Generator.create(steerable, null, CONFIG);
            assertEquals(List.of("steer"), steered.layout().otherInputs());
            GenerationConfig config = GenerationConfig.greedy(12).withSampling(SamplingConfig.temperature(1.0, 5));
            InferenceException missing = assertThrows(InferenceException.class,
                    () -> steered.generateIds(PROMPTS, config, ExtraInputs.NONE, TokenListener.NONE));
            assertTrue(missing.getMessage().contains("[steer]"), missing.getMessage());

            List<Long> expected = base.generateIds(PROMPTS, config, ExtraInputs.NONE, TokenListener.NONE).get(0).tokenIds();
            float[] push = new float[TinyKvModels.HIDDEN];
            try (OnnxTensor zeros = OnnxTensor.createTensor(Ort.env(), push)) {
                assertEquals(expected, steered.generateIds(PROMPTS, config,
                        ExtraInputs.constant(Map.of("steer", zeros)), TokenListener.NONE).get(0).tokenIds());
            }
            Arrays.fill(push, 3f);
            List<Integer> stepsSeen = new ArrayList<>();
            try (OnnxTensor vector = OnnxTensor.createTensor(Ort.env(), push)) {
                List<Long> pushed = steered.generateIds(PROMPTS, config, step -> {
                    stepsSeen.add(step.step());
                    return Map.of("steer", vector);
                }, TokenListener.NONE).get(0).tokenIds();
                assertNotEquals(expected, pushed, "feeding the vector changes the tokens");
            }
            assertEquals(12, stepsSeen.size(), "one call per run: prefill + 11 decode steps");
        }
    }
}
