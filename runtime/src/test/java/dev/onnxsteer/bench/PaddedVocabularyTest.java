package dev.onnxsteer.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufValue;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The 76M bench GGUF's vocabulary: stories260K's SentencePiece pieces unchanged, then distinct padding ranked below them. */
class PaddedVocabularyTest {
    @Test
    void extendsStoriesVocabularyToTheModelSize() {
        Map<String, GgufValue> padded = BenchModels.paddedVocabulary(BenchModels.GGUF_VOCAB);
        List<GgufValue> tokens = elements(padded, "tokenizer.ggml.tokens");
        List<GgufValue> scores = elements(padded, "tokenizer.ggml.scores");
        List<GgufValue> types = elements(padded, "tokenizer.ggml.token_type");
        assertEquals(32000, tokens.size());
        assertEquals(32000, scores.size());
        assertEquals(32000, types.size());
        assertEquals(32000, new HashSet<>(tokens).size(), "every piece distinct");
        try (GgufFile stories = GgufFile.open(TestPaths.sharedModel("stories260K/stories260K.gguf"))) {
            Map<String, GgufValue> original = stories.metadata().asMap();
            List<GgufValue> storiesTokens = ((GgufValue.Array) original.get("tokenizer.ggml.tokens")).elements();
            List<GgufValue> storiesScores = ((GgufValue.Array) original.get("tokenizer.ggml.scores")).elements();
            assertEquals(storiesTokens, tokens.subList(0, storiesTokens.size()));
            assertEquals(original.get("tokenizer.ggml.model"), padded.get("tokenizer.ggml.model"));
            assertEquals(original.get("tokenizer.ggml.bos_token_id"), padded.get("tokenizer.ggml.bos_token_id"));
            double lowest = storiesScores.stream().mapToDouble(v -> ((GgufValue.Real) v).value()).min().orElseThrow();
            assertEquals("\u2581v00512", ((GgufValue.Str) tokens.get(512)).value());
            assertTrue(scores.subList(storiesScores.size(), 32000).stream().allMatch(v -> ((GgufValue.Real) v).value() < lowest),
                    "padding scored below every real piece");
        }
    }

    private static List<GgufValue> elements(Map<String, GgufValue> keys, String key) {
        return ((GgufValue.Array) keys.get(key)).elements();
    }
}
