package dev.onnxsteer.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.TestModels;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.FinishReason;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * GGUF files imported by {@link GgufImporter} generate what llama.cpp generates from them
 * ({@code peers/llamacpp/greedy.mjs}, node-llama-cpp 3.21.1's prebuilt CPU binary). Both sides
 * start from the same prompt ids; for text prompts llama.cpp's own tokenizer makes them and ours
 * must agree.
 */
class LlamaCppPeerTest {
    private static final int TOKENS = 48;
    /**
     * On the random-weight llamas, a greedy step whose top two probabilities (llama.cpp's) are
     * closer than this may flip on float rounding, so each run is compared up to that step.
     */
    private static final double CLEAR_MARGIN = 0.02;
    private static final long EOS = 2;

    @TempDir
    Path tmp;

    @Test
    void importedStories260KGivesLlamaCppsGreedyTokens() {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        List<String> texts = List.of("Once upon a time", "The little dog", "Lily wanted to");
        List<String> args = new ArrayList<>(List.of(gguf.toString(), String.valueOf(TOKENS), "1"));
        texts.forEach(text -> args.add("text:" + text));
        JsonNode runs = NodePeer.run("llamacpp", "greedy.mjs", args).get("runs");
        assertEquals(texts.size() + 1, runs.size());
        Path dir = TestModels.stories260K();
        try (Tokenizer tokenizer = Tokenizer.load(dir, ModelConfig.load(dir))) {
            for (int i = 0; i < texts.size(); i++) {
                assertArrayEquals(tokenizer.encode(texts.get(i), true), array(runs.get(i + 1).get("prompt")),
                        "llama.cpp's tokenizer and ours give the same ids for '" + texts.get(i) + "'");
            }
        }
        for (JsonNode run : runs) {
            long[] prompt = array(run.get("prompt"));
            Generation ours = generate(dir, prompt);
            List<Long> theirs = NodePeer.ids(run.get("tokens"));
            boolean theirEos = !theirs.isEmpty() && theirs.get(theirs.size() - 1) == EOS;
            assertEquals(theirEos ? theirs.subList(0, theirs.size() - 1) : theirs, ours.tokenIds(),
                    "greedy tokens after " + NodePeer.ids(run.get("prompt")));
            assertEquals(theirEos, ours.finishReason() == FinishReason.EOS);
        }
    }

    /** Seeded random llamas written by llama.cpp's own tools: tokens compared while the greedy pick is clear. */
    @ParameterizedTest
    @ValueSource(strings = {"F32", "F16"})
    void importedRandomLlamaGivesLlamaCppsGreedyTokensWhileThePickIsClear(String type) {
        Path gguf = TestPaths.sharedModel("tiny-llama-quants/tiny-llama-" + type + ".gguf");
        JsonNode runs = NodePeer.run("llamacpp", "greedy.mjs",
                List.of(gguf.toString(), String.valueOf(TOKENS), "1", "1,403,407,261", "1,100,200,300,400")).get("runs");
        Path dir = tmp.resolve(type);
        GgufImporter.importModel(gguf, dir);
        int compared = 0;
        for (JsonNode run : runs) {
            List<Long> theirs = NodePeer.ids(run.get("tokens"));
            JsonNode margins = run.get("margins");
            int clear = 0;
            while (clear < theirs.size() && margins.get(clear).asDouble() >= CLEAR_MARGIN && theirs.get(clear) != EOS) {
                clear++;
            }
            int upTo = Math.min(theirs.size(), clear);
            List<Long> ours = generate(dir, array(run.get("prompt"))).tokenIds();
            assertEquals(theirs.subList(0, upTo), ours.subList(0, Math.min(upTo, ours.size())),
                    type + " greedy tokens after " + NodePeer.ids(run.get("prompt")) + " (first " + upTo + " steps have a top-2 margin >= "
                            + CLEAR_MARGIN + ")");
            compared += upTo;
        }
        assertTrue(compared >= 24, "enough clear steps to mean something: " + compared);
    }

    private static Generation generate(Path dir, long[] prompt) {
        ModelConfig config = ModelConfig.load(dir);
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu());
                Tokenizer tokenizer = Tokenizer.load(dir, config)) {
            return Generator.create(session, tokenizer, config)
                    .generateIds(List.of(prompt), GenerationConfig.greedy(TOKENS), ExtraInputs.NONE, TokenListener.NONE)
                    .get(0);
        }
    }


    private static long[] array(JsonNode ids) {
        return NodePeer.ids(ids).stream().mapToLong(Long::longValue).toArray();
    }
}
