package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The genai-layout import computes what the standard-op import of the same GGUF does: the same greedy tokens
 * (generated with the KV cache, alone and batched), and the same teacher-forced logits up to float rounding, on
 * stories260K (RotaryEmbedding path), the tiny llama (rotary fused into GroupQueryAttention), the qwen2, phi3 and
 * gemma fixtures, and a Q8_0 file kept as MatMulNBits.
 */
class GenaiImportRunTest {
    @TempDir
    Path tmp;

    private static final List<long[]> PROMPTS = List.of(new long[] {1}, new long[] {1, 403, 407, 261, 1125, 29892},
            new long[] {1, 9038, 2501});

    private Path imported(Path gguf, WeightFormat weights, ImportFormat format) {
        Path dir = tmp.resolve(gguf.getFileName() + "-" + weights.label() + "-" + format.label());
        GgufImporter.importModel(gguf, dir, weights, format);
        return dir;
    }

    private static List<List<Long>> greedy(Path dir, List<long[]> prompts, int tokens) {
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu())) {
            Generator generator = Generator.create(session, null, ModelConfig.load(dir));
            return generator.generateIds(prompts, GenerationConfig.greedy(tokens).withEosTokenIds(List.of(-1L)), ExtraInputs.NONE,
                    TokenListener.NONE).stream().map(Generation::tokenIds).toList();
        }
    }

    private static List<long[]> prompts(int vocab) {
        return PROMPTS.stream().map(p -> java.util.Arrays.stream(p).map(t -> t % vocab).toArray()).toList();
    }

    /** 48 greedy tokens per prompt, each prompt alone and the three batched, equal those of the onnx-format import. */
    @Test
    void greedyTokensEqualTheOnnxImportOnStories260KAndTheTinyLlama() {
        for (Path gguf : List.of(TestPaths.sharedModel("stories260K/stories260K.gguf"),
                TestPaths.sharedModel("tiny-llama-quants/tiny-llama-F32.gguf"))) {
            Path onnx = imported(gguf, WeightFormat.F32, ImportFormat.ONNX);
            Path genai = imported(gguf, WeightFormat.F32, ImportFormat.GENAI);
            List<long[]> prompts = prompts(512);
            for (long[] prompt : prompts) {
                List<Long> expected = greedy(onnx, List.of(prompt), 48).get(0);
                assertEquals(expected, greedy(genai, List.of(prompt), 48).get(0), gguf.getFileName() + " alone");
                assertTrue(new HashSet<>(expected).size() > 5, "tokens vary: " + expected);
            }
            assertEquals(greedy(onnx, prompts, 24), greedy(genai, prompts, 24), gguf.getFileName() + " batched");
        }
    }

    /** Teacher-forced logits of 64 seeded tokens agree with the onnx-format import to float rounding. */
    @Test
    void logitsEqualTheOnnxImportOnQwen2Phi3GemmaAndKeptQ8_0() {
        long[] tokens = LlamaCppLogitsTest.randomTokens(64);
        for (String arch : List.of(LlamaConfig.QWEN2, LlamaConfig.PHI3, LlamaConfig.GEMMA)) {
            Path gguf = ArchitectureFixtures.write(arch, tmp.resolve("tiny-" + arch + ".gguf"));
            assertSameLogits(gguf, WeightFormat.F32, tokens, 1e-4);
        }
        Path q8 = ArchitectureFixtures.write(LlamaConfig.QWEN2, tmp.resolve("tiny-qwen2-Q8_0.gguf"), GgmlType.Q8_0);
        assertSameLogits(q8, WeightFormat.KEEP, tokens, 1e-4);
        assertSameLogits(TestPaths.sharedModel("tiny-llama-quants/tiny-llama-Q4_K_M.gguf"), WeightFormat.KEEP, tokens, 1e-4);
    }

    private void assertSameLogits(Path gguf, WeightFormat weights, long[] tokens, double tolerance) {
        QuantisedImportRunTest.Agreement a = QuantisedImportRunTest.compare(
                QuantisedImportRunTest.logitRows(imported(gguf, weights, ImportFormat.ONNX), tokens),
                QuantisedImportRunTest.logitRows(imported(gguf, weights, ImportFormat.GENAI), tokens));
        assertTrue(a.top1() == tokens.length && a.maxRelativeDiff() < tolerance, gguf.getFileName() + " " + weights.label() + " " + a);
    }
}
