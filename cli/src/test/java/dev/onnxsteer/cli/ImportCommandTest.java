package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code import} on the real stories260K, then {@code generate} on what it wrote. */
class ImportCommandTest {
    @TempDir
    Path tmp;


    @Test
    void importsAModelThatGenerateRuns() throws Exception {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        Path dir = tmp.resolve("stories");
        CliRun imported = run("import", gguf.toString(), "-o", dir.toString(), "--json");
        assertEquals(Main.OK, imported.code(), imported.err());
        JsonNode summary = new ObjectMapper().readTree(imported.out());
        assertEquals(5, summary.get("layers").asInt());
        assertEquals(dir.toAbsolutePath().normalize().toString(), summary.get("directory").asText());
        assertEquals("genai", summary.get("format").asText(), "--format auto writes a llama in the fused layout");
        assertTrue(Files.isRegularFile(dir.resolve("model.onnx")));
        assertTrue(Files.isRegularFile(dir.resolve("genai_config.json")));

        CliRun generated = run("generate", dir.toString(), "--prompt", "Once upon a time", "--max-tokens", "16", "--device", "cpu");
        assertEquals(Main.OK, generated.code(), generated.err());
        assertTrue(generated.out().startsWith("Once upon a time, there was a little girl named Lily."), generated.out());

        CliRun again = run("import", gguf.toString(), "-o", dir.toString());
        assertEquals(Main.USAGE, again.code());
        assertTrue(again.err().contains("exists and is not empty"), again.err());
    }

    @Test
    void badInputFilesExitWithThree() throws Exception {
        Path notGguf = tmp.resolve("x.gguf");
        Files.writeString(notGguf, "not a gguf file at all");
        CliRun run = run("import", notGguf.toString(), "-o", tmp.resolve("out").toString());
        assertEquals(Main.BAD_INPUT, run.code());
        assertTrue(run.err().contains("\nerror: " + notGguf + ": not a GGUF file (expected magic GGUF"), run.err());
        assertFalse(run.err().contains("\tat "), "no stack trace without --verbose");
        assertFalse(Files.exists(tmp.resolve("out")));
    }

    /**
     * Without {@code --weights}, a quantized GGUF imports as {@code keep}: its Q4_0 projections become
     * MatMulNBits, and every command works on the result: inspect finds the sites at the MatMulNBits outputs,
     * extract and compile steer it, parity proves the rewrite, generate runs it.
     */
    @Test
    void quantizedFilesImportAsKeepByDefaultAndStaySteerable() throws Exception {
        Path gguf = TestPaths.sharedModel("tiny-llama-quants/tiny-llama-Q4_0.gguf");
        Path dir = tmp.resolve("q4");
        CliRun imported = run("import", gguf.toString(), "-o", dir.toString(), "--json");
        assertEquals(Main.OK, imported.code(), imported.err());
        JsonNode summary = new ObjectMapper().readTree(imported.out());
        assertEquals("keep", summary.get("weights").asText());
        assertEquals("genai", summary.get("format").asText());
        assertEquals(29, summary.get("quantised_projections").asInt(), "q, k and v count as three though packed in one");
        assertEquals(1, summary.get("requantised_projections").asInt(), "only the Q6_K lm_head is requantised");

        CliRun inspect = run("inspect", dir.toString());
        assertEquals(Main.OK, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("/model/layers.1/mlp/down_proj/MatMulNBits/output_0"), inspect.out());

        Path vector = tmp.resolve("q4-happy.gguf");
        CliRun extract = run("extract", dir.toString(), "--dataset", TestPaths.testdata().resolve("happy-sad.jsonl").toString(),
                "--method", "mean", "--layers", "2", "--quiet", "--device", "cpu", "-o", vector.toString());
        assertEquals(Main.OK, extract.code(), extract.err());
        Path steered = tmp.resolve("q4-steered");
        CliRun compile = run("compile", dir.toString(), "--vector", vector.toString(), "--coeff", "8", "-o", steered.toString());
        assertEquals(Main.OK, compile.code(), compile.err());
        CliRun parity = run("parity", dir.toString(), steered.toString(), "--tokens", "4");
        assertEquals(Main.OK, parity.code(), parity.out() + parity.err());
        CliRun base = run("generate", dir.toString(), "--prompt", "Once upon a time", "--max-tokens", "8", "--device", "cpu");
        CliRun moved = run("generate", steered.toString(), "--prompt", "Once upon a time", "--max-tokens", "8", "--device", "cpu");
        assertEquals(Main.OK, moved.code(), moved.err());
        assertFalse(base.out().equals(moved.out()), "coefficient 8 changes the greedy continuation");
    }
}
