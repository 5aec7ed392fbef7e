package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgufMetadata;
import dev.onnxsteer.gguf.GgufValue;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A GGUF vocabulary the importer cannot turn into a tokenizer.json is refused as {@code FILE: WHAT (expected X, found Y)}. */
class TokenizerMessagesTest {
    private static final String FILE = "vocab.gguf";

    private static Map<String, GgufValue> byteLevel() {
        Map<String, GgufValue> values = new LinkedHashMap<>();
        values.put("tokenizer.ggml.model", GgufValue.string("gpt2"));
        values.put("tokenizer.ggml.tokens", GgufValue.stringArray(List.of("a", "b", "ab")));
        values.put("tokenizer.ggml.token_type", GgufValue.int32Array(new int[] {1, 1, 1}));
        values.put("tokenizer.ggml.merges", GgufValue.stringArray(List.of("a b")));
        return values;
    }

    private static String refusal(Map<String, GgufValue> values) {
        return assertThrows(BadModelException.class,
                () -> TokenizerJson.build(new GgufMetadata(values, FILE), FILE)).getMessage();
    }

    @Test
    void anUnknownTokenizerModelIsNamedWithTheSupportedOnes() {
        Map<String, GgufValue> values = byteLevel();
        values.put("tokenizer.ggml.model", GgufValue.string("bert"));
        assertEquals(FILE + ": has an unsupported tokenizer (expected tokenizer.ggml.model one of llama, gpt2, found bert)",
                refusal(values));
    }

    @Test
    void aMergeWithoutASpaceIsQuoted() {
        Map<String, GgufValue> values = byteLevel();
        values.put("tokenizer.ggml.merges", GgufValue.stringArray(List.of("ab")));
        assertEquals(FILE + ": has a tokenizer.ggml.merges entry without a space (expected \"left right\", found \"ab\")",
                refusal(values));
    }

    @Test
    void tokenTypesMustMatchTheTokens() {
        Map<String, GgufValue> values = byteLevel();
        values.put("tokenizer.ggml.token_type", GgufValue.int32Array(new int[] {1, 1}));
        assertEquals(FILE + ": has a tokenizer.ggml.token_type of the wrong length (expected 3 entries, one per "
                + "tokenizer.ggml.tokens entry, found 2)", refusal(values));
    }
}
