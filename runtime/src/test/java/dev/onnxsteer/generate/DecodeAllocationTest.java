package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A decode step allocates the same on the Java heap at position 20 as at position 180: nothing in the loop (mask,
 * ids, logits, streamed text) is rebuilt at the sequence's length. Measured on the generating thread with
 * {@code ThreadMXBean.getThreadAllocatedBytes}, medians over windows of steps (a list growing now and then is not
 * a step's cost). On a GroupQueryAttention graph (a genai import of stories260K) the cache is updated in place
 * ({@link KvCache#inPlace}), so what ONNX Runtime allocates natively does not grow either: the presents are written
 * into the past buffers (InPlaceCacheGenerationTest shows the writes); here the Java side of that loop.
 */
class DecodeAllocationTest {
    private static final int TOKENS = 160;
    private static final int WINDOW = 24;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    @TempDir
    Path tmp;

    @Test
    void bytesPerDecodeStepDoNotGrowWithTheSequence() {
        ModelConfig config = ModelConfig.load(TinyGpt2.dir());
        try (ModelSession session = SessionFactory.open(TinyGpt2.model(), SessionConfig.cpu().withThreads(1, 1));
                Tokenizer tokenizer = Tokenizer.load(TinyGpt2.writeTrimmedTokenizer(tmp.resolve("tok")), config)) {
            Generator generator = Generator.create(session, tokenizer, config);
            GenerationConfig greedy = GenerationConfig.greedy(TOKENS).withEosTokenIds(List.of(-1L));
            List<String> prompts = List.of("Once upon a time", "The cat sat on the mat and");
            for (int warm = 0; warm < 2; warm++) {
                generator.generate(prompts, greedy);
            }
            long[] allocated = new long[TOKENS * prompts.size()];
            int[] count = {0};
            generator.generate(prompts, greedy, ExtraInputs.NONE, (row, token, piece) -> {
                if (row == 0) {
                    allocated[count[0]++] = THREADS.getCurrentThreadAllocatedBytes();
                }
            });
            assertFlat(allocated, count[0]);
        }
    }

    @Test
    void bytesPerDecodeStepDoNotGrowWithTheSequenceWithAnInPlaceCache() {
        Path dir = tmp.resolve("stories-genai");
        GgufImporter.importModel(TestPaths.sharedModel("stories260K/stories260K.gguf"), dir, WeightFormat.F32,
                ImportFormat.GENAI);
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu().withThreads(1, 1))) {
            Generator generator = Generator.create(session, null, ModelConfig.load(dir));
            assertTrue(generator.layout().inPlaceCache());
            GenerationConfig greedy = GenerationConfig.greedy(TOKENS).withEosTokenIds(List.of(-1L));
            List<long[]> prompts = List.of(new long[] {1, 403, 407}, new long[] {1, 290, 51, 261, 125});
            for (int warm = 0; warm < 2; warm++) {
                generator.generateIds(prompts, greedy, ExtraInputs.NONE, TokenListener.NONE);
            }
            long[] allocated = new long[TOKENS];
            int[] count = {0};
            generator.generateIds(prompts, greedy, ExtraInputs.NONE, (row, token, piece) -> {
                if (row == 0) {
                    allocated[count[0]++] = THREADS.getCurrentThreadAllocatedBytes();
                }
            });
            assertFlat(allocated, count[0]);
        }
    }

    private static void assertFlat(long[] allocated, int count) {
        assertEquals(TOKENS, count);
        double early = medianStep(allocated, 1, 1 + WINDOW);
        double late = medianStep(allocated, TOKENS - WINDOW, TOKENS);
        assertTrue(late <= early + 256, "a decode step allocates " + early + " bytes early and " + late
                + " bytes " + (TOKENS - WINDOW) + " tokens later; it should not grow with the sequence");
    }

    private static double medianStep(long[] allocated, int from, int to) {
        double[] steps = new double[to - from];
        for (int k = from; k < to; k++) {
            steps[k - from] = allocated[k] - allocated[k - 1];
        }
        Arrays.sort(steps);
        return steps[steps.length / 2];
    }
}
