package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgufBytes;
import dev.onnxsteer.gguf.GgufFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every hyperparameter {@link LlamaConfig} refuses, each from its own one-key mutant of a small valid llama GGUF,
 * is reported as {@code FILE: WHAT (expected X, found Y)}.
 */
class LlamaConfigMessagesTest {
    private static final int HIDDEN = 8;
    private static final int VOCAB = 4;

    @TempDir
    Path tmp;

    /** The keys of a valid 8-wide llama with 2 heads; a mutant replaces or (with null) removes some. */
    private static Map<String, Object> goodKeys() {
        Map<String, Object> keys = new LinkedHashMap<>();
        keys.put("general.architecture", "llama");
        keys.put("llama.embedding_length", HIDDEN);
        keys.put("llama.block_count", 1);
        keys.put("llama.attention.head_count", 2);
        keys.put("llama.attention.head_count_kv", 2);
        keys.put("llama.feed_forward_length", 16);
        keys.put("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        keys.put("llama.context_length", 32);
        return keys;
    }

    private Path gguf(String name, Map<String, Object> changes, String tensor, long[] dims) throws IOException {
        Map<String, Object> keys = goodKeys();
        keys.putAll(changes);
        GgufBytes bytes = new GgufBytes();
        keys.forEach((key, value) -> {
            if (value instanceof String s) {
                bytes.kvString(key, s);
            } else if (value instanceof Integer i) {
                bytes.kvU32(key, i);
            } else if (value instanceof Float f) {
                bytes.kvF32(key, f);
            }
        });
        bytes.tensor("token_embd.weight", new long[] {HIDDEN, VOCAB}, 0, new byte[4 * HIDDEN * VOCAB]);
        if (tensor != null) {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            bytes.tensor(tensor, dims, 0, new byte[(int) (4 * n)]);
        }
        Path file = tmp.resolve(name + ".gguf");
        Files.write(file, bytes.build());
        return file;
    }

    private Path gguf(String name, Map<String, Object> changes) throws IOException {
        return gguf(name, changes, null, null);
    }

    private static String refusal(Path file) {
        return assertThrows(BadModelException.class, () -> {
            try (GgufFile gguf = GgufFile.open(file)) {
                LlamaConfig.from(gguf);
            }
        }).getMessage();
    }

    private static void assertMessage(Path file, String whatExpectedFound) {
        String message = refusal(file);
        assertEquals(file + ": " + whatExpectedFound, message);
        assertTrue(message.matches("[^\\n]+: [^\\n]+ \\(expected [^\\n]+, found [^\\n]+\\)"), message);
    }

    @Test
    void theUnmutatedFileIsAValidConfig() throws IOException {
        try (GgufFile gguf = GgufFile.open(gguf("good", Map.of()))) {
            LlamaConfig config = LlamaConfig.from(gguf);
            assertEquals(HIDDEN, config.hiddenSize());
            assertEquals(VOCAB, config.vocabSize());
            assertEquals(4, config.headDim());
        }
    }

    /** Gemma's and Mistral Nemo's files state a head size other than hidden / heads; the config takes it. */
    @Test
    void keyLengthIsTheHeadSize() throws IOException {
        Map<String, Object> keys = Map.of("llama.attention.key_length", 16, "llama.attention.value_length", 16,
                "llama.rope.dimension_count", 16, "llama.attention.head_count", 3, "llama.attention.head_count_kv", 1);
        try (GgufFile gguf = GgufFile.open(gguf("key-length-16", keys))) {
            LlamaConfig config = LlamaConfig.from(gguf);
            assertEquals(16, config.headDim());
            assertEquals(HIDDEN, config.hiddenSize());
            assertEquals(16, config.queryPreAttnScalar());
            assertEquals(0.25f, config.attentionScale());
        }
    }

    @Test
    void shapesTheImporterCannotBuildAreRefusedInOneStyle() throws IOException {
        assertMessage(gguf("falcon", Map.of("general.architecture", "falcon")),
                "has an unsupported architecture (expected general.architecture one of llama, qwen2, phi3, gemma, gemma2, found falcon)");
        assertMessage(gguf("kv-heads", Map.of("llama.attention.head_count_kv", 3)),
                "has attention sizes that do not fit together (expected positive sizes and head_count_kv dividing head_count,"
                        + " found embedding_length 8, head_count 2, head_count_kv 3)");
        assertMessage(gguf("heads", Map.of("llama.attention.head_count", 3, "llama.attention.head_count_kv", 3)),
                "has no head size (expected llama.attention.key_length, or head_count dividing embedding_length,"
                        + " found embedding_length 8, head_count 3)");
        assertMessage(gguf("key-length", Map.of("llama.attention.key_length", 0)),
                "GGUF key llama.attention.key_length is out of range (expected 1 to 1073741823"
                        + " (head_count 2 heads of it in one projection), found 0)");
        assertMessage(gguf("value-length", Map.of("llama.attention.key_length", 16, "llama.attention.value_length", 8)),
                "has value heads of another size than its key heads, which the importer does not support"
                        + " (expected llama.attention.value_length equal to key_length 16, found 8)");
        assertMessage(gguf("rope-dims", Map.of("llama.rope.dimension_count", 2)),
                "has partial rotary embedding, which the importer does not support (expected llama.rope.dimension_count"
                        + " the whole head, 4, found 2)");
        assertMessage(gguf("rope-dims-key-length", Map.of("llama.attention.key_length", 16, "llama.rope.dimension_count", 4)),
                "has partial rotary embedding, which the importer does not support (expected llama.rope.dimension_count"
                        + " the whole head, 16, found 4)");
        assertMessage(gguf("odd-head", Map.of("llama.attention.head_count", 8, "llama.attention.head_count_kv", 8)),
                "has an odd head size (expected an even head size for rotary embedding, found 1)");
        assertMessage(gguf("yarn", Map.of("llama.rope.scaling.type", "yarn")),
                "has a RoPE scaling the importer does not support (expected llama.rope.scaling.type none or linear, found yarn)");
        assertMessage(gguf("moe", Map.of("llama.expert_count", 8)),
                "is a mixture-of-experts model; the importer supports dense models only (expected llama.expert_count 0, found 8)");
        assertMessage(gguf("phi3", Map.of("general.architecture", "phi3", "phi3.embedding_length", HIDDEN, "phi3.block_count", 1,
                        "phi3.attention.head_count", 2, "phi3.feed_forward_length", 16,
                        "phi3.attention.layer_norm_rms_epsilon", 1e-5f, "phi3.context_length", 32),
                        "rope_factors_long.weight", new long[] {2}),
                "is a phi3 with LongRoPE, which the importer does not support (expected plain rotary embedding"
                        + " (the 4k-context models), found tensor rope_factors_long.weight)");
    }

    @Test
    void corruptedValuesAreRefusedNamingTheKey() throws IOException {
        assertMessage(gguf("embedding", Map.of("llama.embedding_length", 4, "llama.attention.head_count", 1,
                        "llama.attention.head_count_kv", 1)),
                "tensor token_embd.weight does not fit embedding_length (expected shape [vocab, 4], found [4, 8])");
        assertMessage(gguf("ffn", Map.of("llama.feed_forward_length", 0)),
                "GGUF key llama.feed_forward_length is out of range (expected a positive finite number, found 0.0)");
        assertMessage(gguf("eps", Map.of("llama.attention.layer_norm_rms_epsilon", Float.NaN)),
                "GGUF key llama.attention.layer_norm_rms_epsilon is out of range (expected a positive finite number, found NaN)");
        assertMessage(gguf("bos", Map.of("tokenizer.ggml.bos_token_id", VOCAB)),
                "GGUF key tokenizer.ggml.bos_token_id names a token the model cannot embed (expected an id from 0 to 3, found 4)");
        assertMessage(gguf("arch-binary", Map.of("general.architecture", "ll\u001b[2Jama")),
                "has an unsupported architecture (expected general.architecture one of llama, qwen2, phi3, gemma, gemma2, found ll\\x1b[2Jama)");
    }
}
