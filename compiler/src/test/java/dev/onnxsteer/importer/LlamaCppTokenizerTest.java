package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgmlType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code tokenizer.json} an import writes for a byte-level BPE vocabulary tokenizes like llama.cpp itself
 * ({@code llama_tokenize} with add_special and parse_special, through {@code peers/gguf-dequant/tokenise.py}):
 * one llama fixture per {@code tokenizer.ggml.pre} with the {@link ByteLevelVocabulary}, and strings that
 * exercise each pre-tokenizer's rules (digit grouping, contractions in either case, unicode letters and
 * marks, runs of spaces, tabs and newlines, control tokens inside text).
 */
class LlamaCppTokenizerTest {
    static final Path PYTHON = Path.of("/usr/bin/python3");
    static final List<String> TEXTS = List.of(
            "Once upon a time", "hello world", " leading space", "  two leading spaces", "trailing  ", "",
            "numbers 1 12 123 1234 12345 3.14159 1,000,000", "2024-12-02 10:30", "don't I'LL we've THEY'RE she'd it'S",
            "naïve café crème brûlée résumé", "日本語のテキスト", "emoji 🙂👍🏽 mixed", "Ünïcödé",
            "tabs\tand\nnewlines\n\n\r\n end", "   \n   ", "\n\n\n", "line one\nline two\n",
            "<|eot_id|>special<|end_of_text|> in text", "mixed123abc!!!???...", "a+b=c; x^2 <= y | z ~ w",
            "def main():\n    return x + y * 2\n", "THE QUICK BROWN FOX", "$100 and 50% off!!");

    @TempDir
    Path tmp;

    @Test
    void byteLevelTokenizersTokenizeLikeLlamaCpp() throws Exception {
        Path dir = TestPaths.root().resolve("peers/gguf-dequant");
        assumeTrue(Files.isExecutable(PYTHON), "skipped: " + PYTHON + " is absent");
        assumeTrue(Files.exists(dir.resolve("node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so")),
                "skipped: run npm ci in " + dir + " to install llama.cpp's libllama");
        Path texts = tmp.resolve("texts.json");
        ObjectMapper json = new ObjectMapper();
        json.writeValue(texts.toFile(), TEXTS);
        for (String pre : List.of("llama-bpe", "qwen2", "default", "gpt-2")) {
            Path gguf = ArchitectureFixtures.write(LlamaConfig.LLAMA, tmp.resolve(pre + ".gguf"), GgmlType.F32, ByteLevelVocabulary.keys(pre));
            Process p = new ProcessBuilder(PYTHON.toString(), dir.resolve("tokenise.py").toString(), gguf.toString(), texts.toString())
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(5, TimeUnit.MINUTES) && p.exitValue() == 0, "tokenise.py failed on " + pre + ": " + stdout);
            JsonNode reference = json.readTree(stdout);
            Path imported = tmp.resolve("import-" + pre);
            GgufImporter.importModel(gguf, imported);
            List<String> mismatches = new ArrayList<>();
            try (HuggingFaceTokenizer ours = HuggingFaceTokenizer.newInstance(imported.resolve("tokenizer.json"))) {
                for (int i = 0; i < TEXTS.size(); i++) {
                    long[] expected = new long[reference.get(i).size()];
                    for (int j = 0; j < expected.length; j++) {
                        expected[j] = reference.get(i).get(j).asLong();
                    }
                    long[] actual = ours.encode(TEXTS.get(i), true, false).getIds();
                    if (!Arrays.equals(expected, actual)) {
                        mismatches.add(json.writeValueAsString(TEXTS.get(i)) + ": llama.cpp " + Arrays.toString(expected)
                                + ", ours " + Arrays.toString(actual));
                    }
                }
            }
            assertEquals(List.of(), mismatches, pre);
            boolean bos = json.readTree(imported.resolve("tokenizer_config.json").toFile()).get("add_bos_token").asBoolean();
            assertEquals(pre.equals("llama-bpe"), bos, pre + ": llama.cpp adds BOS by default for Llama 3's vocabulary only");
        }
    }
}
