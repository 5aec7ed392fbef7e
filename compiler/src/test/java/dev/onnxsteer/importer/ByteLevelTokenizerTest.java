package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.onnxsteer.gguf.GgufMetadata;
import dev.onnxsteer.gguf.GgufValue;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tokenizer.ggml.model = gpt2: a small byte-level BPE vocabulary built here, loaded the way the runtime loads it. */
class ByteLevelTokenizerTest {
    @TempDir
    Path tmp;

    /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n in byte order. */
    static List<String> byteSymbols() {
        List<String> symbols = new ArrayList<>();
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols.add(new String(Character.toChars(printable ? b : 256 + n++)));
        }
        return symbols;
    }

    private HuggingFaceTokenizer load(String pre, boolean addBos) throws Exception {
        List<String> tokens = new ArrayList<>(byteSymbols());
        tokens.addAll(List.of("he", "ll", "hell", "hello", "Ġhello", "<|endoftext|>"));
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, 1);
        types[tokens.size() - 1] = 3;
        Map<String, GgufValue> values = new LinkedHashMap<>();
        values.put("tokenizer.ggml.model", GgufValue.string("gpt2"));
        values.put("tokenizer.ggml.pre", GgufValue.string(pre));
        values.put("tokenizer.ggml.tokens", GgufValue.stringArray(tokens));
        values.put("tokenizer.ggml.token_type", GgufValue.int32Array(types));
        values.put("tokenizer.ggml.merges", GgufValue.stringArray(List.of("h e", "l l", "he ll", "hell o", "Ġ hello")));
        values.put("tokenizer.ggml.bos_token_id", GgufValue.uint32(tokens.size() - 1));
        values.put("tokenizer.ggml.add_bos_token", GgufValue.bool(addBos));
        Path file = tmp.resolve(pre + addBos + ".json");
        Files.write(file, TokenizerJson.toBytes(TokenizerJson.build(new GgufMetadata(values, "test.gguf"), "test.gguf")));
        return HuggingFaceTokenizer.newInstance(file);
    }

    @Test
    void encodesAndDecodesByteLevelBpe() throws Exception {
        for (String pre : List.of("gpt-2", "llama-bpe")) {
            try (HuggingFaceTokenizer tokenizer = load(pre, false)) {
                long[] ids = tokenizer.encode("hello hello", true, false).getIds();
                assertArrayEquals(new long[] {259, 260}, ids, pre);
                assertEquals("hello hello", tokenizer.decode(ids, true));
                long[] accented = tokenizer.encode("hé!", true, false).getIds();
                assertArrayEquals(new long[] {0x68, 0xC3, 0xA9, 0x21}, accented, pre); // byte b is token b here
                assertEquals("hé!", tokenizer.decode(accented, true));
            }
        }
        try (HuggingFaceTokenizer tokenizer = load("gpt-2", true)) {
            assertArrayEquals(new long[] {261, 259}, tokenizer.encode("hello", true, false).getIds());
        }
    }
}
