package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.ArchitectureFixtures;
import dev.onnxsteer.importer.LlamaConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code import --format genai} on the real stories260K, then every command on what it wrote: inspect shows the
 * builder layout's sites, generate gives the onnx-format import's text, compile works in every mode and op or
 * refuses with one line, and parity proves each compiled model.
 */
class ImportGenaiCommandTest {
    @TempDir
    Path tmp;

    @Test
    void genaiImportRunsEveryCommand() throws Exception {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        Path dir = tmp.resolve("stories-genai");
        CliRun imported = run("import", gguf.toString(), "-o", dir.toString(), "--format", "genai", "--json");
        assertEquals(Main.OK, imported.code(), imported.err());
        JsonNode summary = new ObjectMapper().readTree(imported.out());
        assertEquals("genai", summary.get("format").asText());
        assertEquals(100, summary.get("nodes").asInt());
        assertTrue(Files.isRegularFile(dir.resolve("genai_config.json")));

        CliRun inspect = run("inspect", dir.toString());
        assertEquals(Main.OK, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("com.microsoft.GroupQueryAttention 5"), inspect.out());
        assertTrue(inspect.out().contains("/model/layers.2/post_attention_layernorm/SkipSimplifiedLayerNormalization/output_3"),
                inspect.out());

        Path onnx = tmp.resolve("stories-onnx");
        assertEquals(Main.OK, run("import", gguf.toString(), "-o", onnx.toString()).code());
        String prompt = "Once upon a time";
        CliRun fused = run("generate", dir.toString(), "--prompt", prompt, "--max-tokens", "32", "--device", "cpu");
        assertEquals(Main.OK, fused.code(), fused.err());
        assertTrue(fused.out().startsWith("Once upon a time, there was a little girl named Lily."), fused.out());
        assertEquals(run("generate", onnx.toString(), "--prompt", prompt, "--max-tokens", "32", "--device", "cpu").out(), fused.out());

        Path vector = tmp.resolve("genai-happy.gguf");
        CliRun extract = run("extract", dir.toString(), "--dataset", TestPaths.testdata().resolve("happy-sad.jsonl").toString(),
                "--method", "mean", "--layers", "2", "--quiet", "--device", "cpu", "-o", vector.toString());
        assertEquals(Main.OK, extract.code(), extract.err());

        List<String> refusals = new ArrayList<>();
        int compiled = 0;
        for (String mode : List.of("add", "input", "bias", "auto")) {
            for (String op : List.of("add", "ablate", "ablate-add", "clamp", "orthogonalize")) {
                Path out = tmp.resolve("steered-" + mode + "-" + op);
                List<String> args = new ArrayList<>(List.of("compile", dir.toString(), "--vector", vector.toString(), "--mode", mode,
                        "--op", op, "-o", out.toString()));
                if (op.equals("add") || op.equals("ablate-add")) {
                    args.addAll(List.of("--coeff", "4"));
                }
                if (op.equals("clamp")) {
                    args.addAll(List.of("--clamp-value", "1"));
                }
                CliRun compile = run(args.toArray(String[]::new));
                if (compile.code() != Main.OK) {
                    String[] lines = compile.err().strip().split("\n");
                    assertEquals(Main.USAGE, compile.code(), mode + " " + op + ": " + compile.err());
                    assertTrue(lines[lines.length - 1].startsWith("error: --mode bias"), mode + " " + op + ": " + compile.err());
                    assertFalse(compile.err().contains("\tat "), "no stack trace");
                    assertFalse(Files.exists(out));
                    refusals.add(mode + " " + op);
                    continue;
                }
                compiled++;
                CliRun parity = run("parity", dir.toString(), out.toString(), "--tokens", "4");
                assertEquals(Main.OK, parity.code(), mode + " " + op + ": " + parity.out() + parity.err());
            }
        }
        // bias mode folds a constant into a bias: the float projections here have none, and only add folds
        assertEquals(List.of("bias add", "bias ablate", "bias ablate-add", "bias clamp"), refusals);
        assertEquals(16, compiled);
    }

    @Test
    void gemma2AndUnknownFormatsAreRefusedInOneLine() throws Exception {
        Path gguf = ArchitectureFixtures.write(LlamaConfig.GEMMA2, tmp.resolve("gemma2.gguf"));
        CliRun gemma2 = run("import", gguf.toString(), "-o", tmp.resolve("g2").toString(), "--format", "genai");
        assertEquals(Main.BAD_INPUT, gemma2.code());
        assertTrue(gemma2.err().endsWith("error: " + gguf + ": cannot be imported with --format genai (expected general.architecture"
                + " one of llama, qwen2, phi3, gemma, found gemma2)\n"), gemma2.err());
        assertFalse(Files.exists(tmp.resolve("g2")));
        CliRun unknown = run("import", gguf.toString(), "-o", tmp.resolve("x").toString(), "--format", "ortgenai");
        assertEquals(Main.USAGE, unknown.code());
        assertTrue(unknown.err().contains("expected one of auto, onnx, genai but found 'ortgenai'"), unknown.err());
    }
}
