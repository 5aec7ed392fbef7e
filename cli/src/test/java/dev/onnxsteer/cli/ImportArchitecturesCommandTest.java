package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.ArchitectureFixtures;
import dev.onnxsteer.importer.LlamaConfig;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** qwen2, phi3, gemma and gemma2 GGUFs through the whole CLI, each in its default layout: import, inspect, extract, compile, parity, generate. */
class ImportArchitecturesCommandTest {
    @TempDir
    Path tmp;

    @Test
    void importedQwen2Phi3AndGemmaAreSteerable() throws Exception {
        for (String arch : List.of(LlamaConfig.QWEN2, LlamaConfig.PHI3, LlamaConfig.GEMMA, LlamaConfig.GEMMA2)) {
            Path gguf = ArchitectureFixtures.write(arch, tmp.resolve(arch + ".gguf"));
            Path dir = tmp.resolve(arch);
            CliRun imported = run("import", gguf.toString(), "-o", dir.toString(), "--json");
            assertEquals(Main.OK, imported.code(), imported.err());
            JsonNode summary = new ObjectMapper().readTree(imported.out());
            assertEquals(arch, summary.get("architecture").asText());
            // --format auto: the fused layout wherever the architecture has one (gemma2's soft-capping is not in it)
            assertEquals(arch.equals(LlamaConfig.GEMMA2) ? "onnx" : "genai", summary.get("format").asText(), arch);

            CliRun inspect = run("inspect", dir.toString());
            assertEquals(Main.OK, inspect.code(), inspect.err());
            assertTrue(inspect.out().contains("resid_post.1"), inspect.out());

            Path vector = tmp.resolve(arch + "-happy.gguf");
            CliRun extract = run("extract", dir.toString(), "--dataset", TestPaths.testdata().resolve("happy-sad.jsonl").toString(),
                    "--method", "mean", "--layers", "1", "--quiet", "--device", "cpu", "-o", vector.toString());
            assertEquals(Main.OK, extract.code(), extract.err());
            Path steered = tmp.resolve(arch + "-steered");
            // 64: gemma scales its embeddings by sqrt(64) = 8, so its residual stream is that much larger
            CliRun compile = run("compile", dir.toString(), "--vector", vector.toString(), "--coeff", "64", "-o", steered.toString());
            assertEquals(Main.OK, compile.code(), compile.err());
            CliRun parity = run("parity", dir.toString(), steered.toString(), "--tokens", "4");
            assertEquals(Main.OK, parity.code(), parity.out() + parity.err());

            CliRun base = run("generate", dir.toString(), "--prompt", "Once upon a time", "--max-tokens", "12", "--device", "cpu");
            CliRun moved = run("generate", steered.toString(), "--prompt", "Once upon a time", "--max-tokens", "12", "--device", "cpu");
            assertEquals(Main.OK, base.code(), base.err());
            assertEquals(Main.OK, moved.code(), moved.err());
            assertTrue(base.out().startsWith("Once upon a time"), base.out());
            assertNotEquals(base.out(), moved.out(), arch + ": coefficient 64 changes the greedy continuation");
        }
    }
}
