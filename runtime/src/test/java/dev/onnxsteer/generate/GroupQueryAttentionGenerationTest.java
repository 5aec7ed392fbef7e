package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxJavaType;
import dev.onnxsteer.generate.TinyGqaModels.Precision;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Generation of onnxruntime-genai builder-style graphs ({@link TinyGqaModels}): GroupQueryAttention takes only
 * each row's length from the mask, so batches are right-aligned; float16 caches and float16 logits.
 */
class GroupQueryAttentionGenerationTest {
    private static final ModelConfig CONFIG = new ModelConfig(OptionalInt.of(TinyGqaModels.VOCAB),
            OptionalInt.of(TinyGqaModels.MAX_POSITIONS), OptionalLong.of(1), List.of(-1L), OptionalLong.of(0), "test");
    private static final List<long[]> PROMPTS = List.of(new long[] {1, 5, 9}, new long[] {1, 2},
            new long[] {1, 7, 3, 3, 12, 4, 20});
    private static final GenerationConfig SAMPLED = GenerationConfig.greedy(16)
            .withSampling(SamplingConfig.temperature(1.0, 11)).withEosTokenIds(List.of(-1L));

    @TempDir
    Path tmp;

    private Path write(Precision precision, boolean genaiConfig) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(precision.name() + (genaiConfig ? "-genai" : "")));
        Files.write(dir.resolve("model.onnx"), TinyGqaModels.build(precision));
        if (genaiConfig) {
            Files.writeString(dir.resolve("genai_config.json"), TinyGqaModels.genaiConfig());
        }
        return dir;
    }

    private static List<List<Long>> tokens(Generator generator, List<long[]> prompts, GenerationConfig config) {
        return generator.generateIds(prompts, config, ExtraInputs.NONE, TokenListener.NONE).stream()
                .map(Generation::tokenIds).toList();
    }

    /** Cached equals recompute, and each row of a batch of unequal prompts equals the row alone. */
    private static List<List<Long>> assertConsistent(Generator generator) {
        List<List<Long>> cached = tokens(generator, PROMPTS, SAMPLED);
        assertEquals(cached, tokens(generator, PROMPTS, SAMPLED.withUseCache(false)), "KV cache vs full recompute");
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertEquals(16, cached.get(i).size());
            assertTrue(new HashSet<>(cached.get(i)).size() > 3, "tokens vary: " + cached.get(i));
            assertEquals(tokens(generator, List.of(PROMPTS.get(i)), SAMPLED).get(0), cached.get(i),
                    "row " + i + " of the batch equals the row alone");
        }
        return cached;
    }

    @Test
    void theGraphsGroupQueryAttentionRightAlignsBatchesAndGenerationIsConsistent() throws Exception {
        Path dir = write(Precision.FP32, false);
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
            assertTrue(session.operators().contains(ModelLayout.GROUP_QUERY_ATTENTION), session.operators().toString());
            Generator generator = Generator.create(session, null, CONFIG);
            ModelLayout layout = generator.layout();
            assertEquals(ModelLayout.Kind.OPTIMUM, layout.kind());
            assertEquals(Optional.empty(), layout.positionIds());
            assertEquals(TokenGrid.Alignment.RIGHT, layout.alignment());
            assertConsistent(generator);
        }
    }

    @Test
    void leftPaddingWouldFeedGroupQueryAttentionPadsAsTokens() throws Exception {
        // the check the alignment exists for: the same graph batched left-aligned changes a short row's logits
        Path dir = write(Precision.FP32, false);
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
            ModelLayout right = ModelLayout.detect(session, DecoderNames.OPTIMUM);
            ModelLayout left = new ModelLayout(right.kind(), right.inputIds(), right.idType(), right.attentionMask(),
                    right.maskType(), right.positionIds(), right.positionType(), right.useCacheBranch(), right.cache(),
                    right.logits(), right.vocabSize(), right.otherInputs());
            GenerationConfig greedy = GenerationConfig.greedy(4);
            List<float[]> alone = firstLogits(new Generator(session.ort(), "alone", right, null, CONFIG),
                    List.of(PROMPTS.get(1)), greedy, 0);
            List<float[]> rightBatch = firstLogits(new Generator(session.ort(), "right", right, null, CONFIG),
                    PROMPTS, greedy, 1);
            List<float[]> leftBatch = firstLogits(new Generator(session.ort(), "left", left, null, CONFIG),
                    PROMPTS, greedy, 1);
            assertTrue(maxDiff(alone.get(0), rightBatch.get(0)) < 1e-5, "right-aligned: " + maxDiff(alone.get(0),
                    rightBatch.get(0)));
            // left-aligned, the row's last tokens lie past its seqlens_k, where GroupQueryAttention writes nothing:
            // what the logits read there is whatever the buffer held, wrong by an amount no bound can fix
            assertTrue(maxDiff(alone.get(0), leftBatch.get(0)) > 1e-4, "left-aligned: " + maxDiff(alone.get(0),
                    leftBatch.get(0)));
        }
    }

    @Test
    void genaiConfigNamesTheDecoder() throws Exception {
        Path dir = write(Precision.FP32, true);
        ModelConfig config = ModelConfig.load(dir);
        assertTrue(config.decoder().fromGenaiConfig());
        assertEquals(OptionalInt.of(TinyGqaModels.MAX_POSITIONS), config.maxPositions());
        assertEquals(List.of(31L), config.eosTokenIds());
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
            Generator generator = Generator.create(session, null, config);
            assertEquals(TokenGrid.Alignment.RIGHT, generator.layout().alignment());
            assertEquals("present.0.value", generator.layout().cache().get(1).present());
            assertConsistent(generator);
        }
    }

    @Test
    void float16CacheWithFloat32LogitsAndFloat16Logits() throws Exception {
        List<List<Long>> greedy = new ArrayList<>();
        for (Precision precision : new Precision[] {Precision.FP16_CACHE, Precision.FP16_LOGITS}) {
            Path dir = write(precision, true);
            try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
                Generator generator = Generator.create(session, null, ModelConfig.load(dir));
                assertEquals(OnnxJavaType.FLOAT16, generator.layout().cache().get(0).type());
                assertConsistent(generator);
                greedy.add(tokens(generator, PROMPTS, GenerationConfig.greedy(12).withEosTokenIds(List.of())).get(2));
            }
        }
        // float16 logits only round the float32 ones: the greedy choice is the same
        assertEquals(greedy.get(0), greedy.get(1));
    }

    private static List<float[]> firstLogits(Generator generator, List<long[]> prompts, GenerationConfig config,
            int row) {
        List<float[]> seen = new ArrayList<>();
        generator.logitsProbe = (step, r, logits) -> {
            if (step == 0 && r == row) {
                seen.add(logits);
            }
        };
        generator.generateIds(prompts, config, ExtraInputs.NONE, TokenListener.NONE);
        return seen;
    }

    private static double maxDiff(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
