package dev.onnxsteer.cli;

import dev.onnxsteer.io.CompiledModelAbi;
import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code compile --op/--positions/--preserve-norm/--clamp-value/--bank}, inspect of the result, parity, bad input. */
class OperationsCommandTest {
    @TempDir
    static Path tmp;

    @TempDir
    Path temp;

    static Path llama;
    static Path vectorA;
    static Path vectorB;


    static float[] random(int size, long seed) {
        Random random = new Random(seed);
        float[] v = new float[size];
        for (int i = 0; i < size; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    @BeforeAll
    static void vectors() {
        llama = TestPaths.testdata().resolve("llama-tiny");
        vectorA = tmp.resolve("a.gguf");
        vectorB = tmp.resolve("b.gguf");
        VectorFiles.write(SteeringVectors.of(Map.of(1, random(32, 1)), VectorMetadata.defaults()), vectorA);
        VectorFiles.write(SteeringVectors.of(Map.of(1, random(32, 2)), VectorMetadata.defaults()), vectorB);
    }

    @Test
    void ablateAtEveryLayerIsRecordedInspectedAndPassesParity() {
        Path out = temp.resolve("ablated");
        CliRun compile = run("compile", llama.toString(), "--vector", vectorA.toString(), "--op", "ablate",
                "--layers", "all", "--positions", "from:2", "-o", out.toString());
        assertEquals(0, compile.code(), compile.err());
        assertTrue(compile.out().contains("resid_post.3"), compile.out());
        assertTrue(compile.out().contains("ablate positions from:2"), compile.out());
        CliRun inspect = run("inspect", out.toString());
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("steering operations"), inspect.out());
        assertTrue(inspect.out().matches("(?s).*ablate\\s+resid_post\\.0\\s+mode add\\s+positions from:2.*"), inspect.out());
        assertTrue(inspect.out().contains("onnx_steer.ops"), inspect.out());
        CliRun parity = run("parity", llama.toString(), out.toString(), "--tokens", "4");
        assertEquals(0, parity.code(), parity.out() + parity.err());
        assertTrue(parity.out().contains("zero") && parity.out().contains("skipped"), parity.out());
    }

    @Test
    void clampPreserveNormAndOrthogonalizeCompileAndPassParity() {
        Path clamped = temp.resolve("clamped");
        CliRun clamp = run("compile", llama.toString(), "--vector", vectorA.toString(), "--op", "clamp", "--clamp-value", "2",
                "--preserve-norm", "-o", clamped.toString(), "--json");
        assertEquals(0, clamp.code(), clamp.err());
        assertTrue(clamp.out().contains("\"preserve_norm\":true"), clamp.out());
        CliRun parity = run("parity", llama.toString(), clamped.toString(), "--tokens", "4");
        assertEquals(0, parity.code(), parity.out() + parity.err());

        Path orth = temp.resolve("orth");
        CliRun compile = run("compile", llama.toString(), "--vector", vectorA.toString(), "--op", "orthogonalize",
                "-o", orth.toString());
        assertEquals(0, compile.code(), compile.err());
        assertTrue(compile.out().contains("model.embed_tokens.weight"), compile.out());
        assertTrue(compile.out().contains("mlp_out.3 weight"), compile.out());
        CliRun orthParity = run("parity", llama.toString(), orth.toString(), "--tokens", "4");
        assertEquals(0, orthParity.code(), orthParity.out() + orthParity.err());
        assertTrue(orthParity.out().contains("ablate-equivalent"), orthParity.out());
        CliRun inspect = run("inspect", orth.toString());
        assertTrue(inspect.out().contains("orthogonalize") && inspect.out().contains("weights rewritten"), inspect.out());
    }

    @Test
    void bankBecomesRuntimeInputs() {
        Path out = temp.resolve("bank");
        CliRun compile = run("compile", llama.toString(), "--vector", vectorA.toString(), "--vector", vectorB.toString() + ":2",
                "--bank", "--coeff", "3", "-o", out.toString());
        assertEquals(0, compile.code(), compile.err());
        Model model = ModelReader.read(out.resolve("model.onnx"));
        assertEquals("steer_bank,steer_index,steer_scale", model.metadata().get(CompiledModelAbi.RUNTIME_INPUTS));
        Value bank = model.graph().find("steer_bank").orElseThrow();
        assertEquals(2, bank.initializer().dim(0));
        assertEquals(3f, model.graph().find("steer_scale").orElseThrow().initializer().toFloats()[0]);
        CliRun parity = run("parity", llama.toString(), out.toString(), "--tokens", "4");
        assertEquals(0, parity.code(), parity.out() + parity.err());
    }

    @Test
    void siteNamesWorkWithOperationsAndBanks() {
        Path ablated = temp.resolve("ablated");
        CliRun ablate = run("compile", llama.toString(), "--vector", vectorA.toString(), "--op", "ablate-add",
                "--site", "blocks.2.ln2.hook_normalized", "--positions", "prompt", "-o", ablated.toString());
        assertEquals(0, ablate.code(), ablate.err());
        assertTrue(ablate.out().matches("(?s)mlp_in\\.2\\s+ablate-add positions prompt \\(mode add\\), coeff .*"), ablate.out());
        CliRun parity = run("parity", llama.toString(), ablated.toString(), "--tokens", "4");
        assertEquals(0, parity.code(), parity.out() + parity.err());

        Path banked = temp.resolve("bank");
        CliRun bank = run("compile", llama.toString(), "--vector", vectorA.toString(), "--vector", vectorB.toString(),
                "--bank", "--site", "model.layers.1.self_attn", "-o", banked.toString());
        assertEquals(0, bank.code(), bank.err());
        Model model = ModelReader.read(banked.resolve("model.onnx"));
        assertEquals(2, model.graph().find("steer_bank").orElseThrow().initializer().dim(0));
        assertEquals("attn_out.1", model.metadata().get(CompiledModelAbi.METADATA_PREFIX + "sites"));

        CliRun conflicting = run("compile", llama.toString(), "--vector", vectorA.toString(), "--op", "ablate",
                "--site", "blocks.2.hook_resid_mid", "--layers", "1", "-o", temp.resolve("x").toString());
        assertEquals(2, conflicting.code(), conflicting.err());
        assertTrue(conflicting.err().contains("give the layer once"), conflicting.err());
    }

    @Test
    void clampWithoutAValueIsAUsageError() {
        CliRun run = run("compile", llama.toString(), "--vector", vectorA.toString(), "--op", "clamp", "-o",
                temp.resolve("x").toString());
        assertEquals(2, run.code());
        assertTrue(run.err().contains("--op clamp needs --clamp-value"), run.err());
        assertFalse(Files.exists(temp.resolve("x")));
    }

    @Test
    void firstZeroIsAUsageError() {
        CliRun run = run("compile", llama.toString(), "--vector", vectorA.toString(), "--positions", "first:0", "-o",
                temp.resolve("x").toString());
        assertEquals(2, run.code());
        assertTrue(run.err().contains("first:0 steer no token"), run.err());
    }

    @Test
    void unknownOpAndPositionsNameTheChoices() {
        CliRun op = run("compile", llama.toString(), "--vector", vectorA.toString(), "--op", "erase", "-o",
                temp.resolve("x").toString());
        assertEquals(2, op.code());
        assertTrue(op.err().contains("ablate, ablate-add, clamp, orthogonalize"), op.err());
        CliRun positions = run("compile", llama.toString(), "--vector", vectorA.toString(), "--positions", "later", "-o",
                temp.resolve("x").toString());
        assertEquals(2, positions.code());
        assertTrue(positions.err().contains("all, prompt, generated, first:N, from:N"), positions.err());
    }

    @Test
    void orthogonalizeRefusesWhenAWriterIsNotFoundAndListsWhatWasFound() throws Exception {
        // the MLP down projection of layer 2 reads its weight through an Identity: not an initializer any more
        Model model = ModelReader.read(llama.resolve("model.onnx"));
        Node down = model.graph().nodes().stream().filter(n -> n.name().equals("/model/layers.2/mlp/down_proj/MatMul"))
                .findFirst().orElseThrow();
        Value through = model.graph().op("Identity").name("/hidden/Identity").inputs(down.input(1)).value();
        down.setInput(1, through);
        model.graph().sortTopologically();
        Path dir = temp.resolve("odd");
        Files.createDirectories(dir);
        ModelWriter.write(model, dir.resolve("model.onnx"));
        CliRun run = run("compile", dir.toString(), "--vector", vectorA.toString(), "--op", "orthogonalize", "-o",
                temp.resolve("y").toString());
        assertEquals(3, run.code(), run.err());
        assertTrue(run.err().contains("Not found: mlp_out.2"), run.err());
        assertTrue(run.err().contains("Found: embedding model.embed_tokens.weight"), run.err());
        assertTrue(run.err().contains("attn_out.2 weight"), run.err());
    }
}
