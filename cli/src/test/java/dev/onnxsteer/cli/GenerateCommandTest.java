package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.generate.ByteFallbackText;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.ScriptedModel;
import dev.onnxsteer.generate.TinyGpt2;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.session.CudaProbe;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code generate} against the shared fused GPT-2 with a tokenizer cut to its 1000-token vocabulary. */
class GenerateCommandTest {
    @TempDir
    static Path tmp;
    static Path tokenizer;


    @BeforeAll
    static void tokenizer() {
        tokenizer = TinyGpt2.writeTrimmedTokenizer(tmp.resolve("tok"));
    }

    /** What the library generates greedily, to compare the CLI with. */
    static Generation library(String prompt, int maxTokens) {
        ModelConfig config = ModelConfig.load(TinyGpt2.dir());
        try (ModelSession session = SessionFactory.open(TinyGpt2.model(), SessionConfig.cpu());
                Tokenizer tok = Tokenizer.load(tokenizer, config)) {
            return Generator.create(session, tok, config).generate(List.of(prompt), GenerationConfig.greedy(maxTokens))
                    .get(0);
        }
    }

    @Test
    void streamsThePromptAndTheContinuation() {
        CliRun run = run("generate", TinyGpt2.model().toString(), "--tokenizer", tokenizer.toString(),
                "--prompt", "Once upon a time", "--max-tokens", "6", "--device", "cpu");
        assertEquals(0, run.code(), run.err());
        Generation expected = library("Once upon a time", 6);
        assertTrue(expected.text().length() > 0);
        assertEquals("Once upon a time" + expected.text() + System.lineSeparator(), run.out());
        assertEquals("", run.err());
    }

    @Test
    void jsonPrintsOneObjectPerPrompt() throws Exception {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "Once upon a time\n\nThe cat sat\n");
        CliRun run = run("generate", TinyGpt2.model().toString(), "--tokenizer", tokenizer.toString(),
                "--prompts", prompts.toString(), "--max-tokens", "5", "--device", "cpu", "--threads", "1", "--no-spin", "--no-memory-arena", "--json");
        assertEquals(0, run.code(), run.err());
        String[] lines = run.out().strip().split("\\R");
        assertEquals(2, lines.length, run.out());
        ObjectMapper mapper = new ObjectMapper();
        List<String> seen = new ArrayList<>();
        for (String line : lines) {
            JsonNode node = mapper.readTree(line);
            String prompt = node.get("prompt").asText();
            seen.add(prompt);
            Generation expected = library(prompt, 5);
            assertEquals(expected.text(), node.get("text").asText());
            List<Long> ids = new ArrayList<>();
            node.get("token_ids").forEach(id -> ids.add(id.asLong()));
            assertEquals(expected.tokenIds(), ids);
            assertEquals("length", node.get("finish_reason").asText());
            assertEquals(expected.promptTokens(), node.get("prompt_tokens").asInt());
            assertEquals(5, node.get("generated_tokens").asInt());
            assertTrue(node.get("prefill_ms").isNumber() && node.get("decode_tokens_per_s").isNumber());
        }
        assertEquals(List.of("Once upon a time", "The cat sat"), seen);
    }

    @Test
    void stopStringEndsWithStop() throws Exception {
        String text = library("Once upon a time", 12).text();
        String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
        CliRun run = run("generate", TinyGpt2.model().toString(), "--tokenizer", tokenizer.toString(),
                "--prompt", "Once upon a time", "--max-tokens", "12", "--device", "cpu", "--stop", stop, "--json");
        assertEquals(0, run.code(), run.err());
        JsonNode node = new ObjectMapper().readTree(run.out());
        assertEquals("stop", node.get("finish_reason").asText());
        assertEquals(text.substring(0, text.indexOf(stop)), node.get("text").asText());
    }

    @Test
    void seededSamplingIsRepeatable() {
        String[] args = {"generate", TinyGpt2.model().toString(), "--tokenizer", tokenizer.toString(), "--prompt", "Hi",
                "--max-tokens", "10", "--device", "cpu", "--temperature", "1.5", "--top-k", "50", "--top-p", "0.95",
                "--repetition-penalty", "1.2", "--seed", "11", "--json"};
        CliRun first = run(args);
        CliRun second = run(args);
        assertEquals(0, first.code(), first.err());
        assertEquals(first.out().replaceAll("\"prefill_ms.*", ""), second.out().replaceAll("\"prefill_ms.*", ""));
    }

    @Test
    void autoDeviceReportsTheFallbackOnStderr() {
        org.junit.jupiter.api.Assumptions.assumeTrue(CudaProbe.missingLibrary().isPresent());
        CliRun run = run("generate", TinyGpt2.model().toString(), "--tokenizer", tokenizer.toString(),
                "--prompt", "Hi", "--max-tokens", "2");
        assertEquals(0, run.code(), run.err());
        assertTrue(run.err().contains("running on CPU"), run.err());
        assertEquals(1, run.err().strip().lines().count(), run.err());
    }

    @Test
    void theSharedDirectoryWithItsFullGpt2TokenizerIsRefused() {
        CliRun run = run("generate", TinyGpt2.dir().toString(), "--prompt", "Hi", "--device", "cpu");
        assertEquals(Main.BAD_INPUT, run.code(), run.err());
        assertTrue(run.err().startsWith("error: tokenizer") && run.err().contains("50295")
                && run.err().contains("1000"), run.err());
        assertEquals(1, run.err().strip().lines().count(), run.err());
    }

    @Test
    void usageErrors() {
        CliRun device = run("generate", TinyGpt2.model().toString(), "--tokenizer", tokenizer.toString(), "--prompt", "x",
                "--device", "tpu");
        assertEquals(Main.USAGE, device.code());
        assertTrue(device.err().contains("auto, cpu, cuda, cuda:N"), device.err());
        CliRun noPrompt = run("generate", TinyGpt2.model().toString(), "--tokenizer", tokenizer.toString());
        assertEquals(Main.USAGE, noPrompt.code());
        assertTrue(noPrompt.err().contains("--prompt"), noPrompt.err());
        CliRun missing = run("generate", tmp.resolve("nope").toString(), "--prompt", "x");
        assertEquals(Main.BAD_INPUT, missing.code(), missing.err());
    }

    /** Ids with malformed byte-fallback runs, from a scripted model: stdout and {@code --json} carry HF's text. */
    @Test
    void malformedByteFallbackRunsPrintAsTheHuggingFaceDecoderHasThem() throws Exception {
        Path dir = ScriptedModel.write(tmp.resolve("scripted"), 2, ByteFallbackText.IDS); // [BOS, ▁Once]
        CliRun streamed = run("generate", dir.toString(), "--prompt", "Once", "--max-tokens", "40", "--device", "cpu");
        assertEquals(0, streamed.code(), streamed.err());
        assertEquals("Once " + ByteFallbackText.TEXT + System.lineSeparator(), streamed.out());
        CliRun json = run("generate", dir.toString(), "--prompt", "Once", "--max-tokens", "40", "--device", "cpu", "--json");
        assertEquals(0, json.code(), json.err());
        JsonNode node = new ObjectMapper().readTree(json.out());
        assertEquals(" " + ByteFallbackText.TEXT, node.get("text").asText());
        assertEquals("eos", node.get("finish_reason").asText());
    }

    @Test
    void compareIndentsContinuationLinesUnderTheirLabel() {
        assertEquals("original: Lily\n          Once upon a time", GenerateCommand.labelled("original: ", "Lily\nOnce upon a time"));
        assertEquals("steered:  Tom was\n          happy", GenerateCommand.labelled("steered:  ", "Tom was\nhappy\n\n"),
                "a trailing newline does not add a second blank line between prompts");
    }
}
