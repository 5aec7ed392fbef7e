package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestModels;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** compile, inspect and parity through the CLI, and every refusal compile owes a user. */
class CompileCommandTest {
    @TempDir
    Path tmp;

    private static final String LLAMA = TestPaths.testdata().resolve("llama-tiny").toString();

    private Path vectorFile(String name, int layer, int hidden, long seed) {
        Random random = new Random(seed);
        float[] v = new float[hidden];
        for (int i = 0; i < hidden; i++) {
            v[i] = (float) random.nextGaussian();
        }
        Path file = tmp.resolve(name);
        VectorFiles.write(SteeringVectors.of(Map.of(layer, v), VectorMetadata.defaults()), file);
        return file;
    }

    @Test
    void compiledModelRecordsWhatWasDoneAndPassesParity() throws IOException {
        Path vector = vectorFile("v.gguf", 2, 32, 1);
        Path out = tmp.resolve("steered");
        CliRun compiled = run("compile", LLAMA, "--vector", vector + ":2", "--coeff", "1.5", "-o", out.toString(),
                "--json");
        assertEquals(Main.OK, compiled.code(), compiled.err());
        JsonNode summary = new ObjectMapper().readTree(compiled.out());
        assertEquals("resid_post.2", summary.get("sites").get(0).get("site").asText());
        assertEquals("add", summary.get("sites").get(0).get("mode").asText(), "llama has no bias: auto picks add");
        assertTrue(Files.isRegularFile(out.resolve("tokenizer.json")));
        assertTrue(Files.isRegularFile(out.resolve("config.json")));

        Model model = ModelReader.read(out);
        JsonNode operations = new ObjectMapper().readTree(model.metadata().get("onnx_steer.operations"));
        assertEquals(3.0, operations.get(0).get("coefficient").asDouble(), 1e-6, "file coefficient 2 times --coeff 1.5");
        assertEquals("resid_post.2", model.metadata().get("onnx_steer.sites"));
        assertEquals(64, model.metadata().get("onnx_steer.source_model_sha256").length());

        CliRun inspected = run("inspect", out.toString());
        assertEquals(Main.OK, inspected.code(), inspected.err());
        assertTrue(inspected.out().contains("onnx_steer.operations"), inspected.out());

        CliRun parity = run("parity", LLAMA, out.toString(), "--tokens", "6");
        assertEquals(Main.OK, parity.code(), parity.out() + parity.err());
        assertTrue(parity.out().contains("parity: all checks passed"), parity.out());
        assertTrue(parity.out().matches("(?s).*zero\\s+passed\\s+0\\s.*"), parity.out());
    }

    @Test
    void gpt2CompilesIntoTheBiasWithNoNodeAdded() throws IOException {
        String gpt2 = TestPaths.testdata().resolve("gpt2-tiny").toString();
        Path out = tmp.resolve("bias");
        CliRun compiled = run("compile", gpt2, "--vector", vectorFile("v.safetensors", 1, 32, 2).toString(),
                "--coeff", "3", "--mode", "bias", "-o", out.toString());
        assertEquals(Main.OK, compiled.code(), compiled.err());
        assertEquals(ModelReader.read(Path.of(gpt2)).graph().nodes().size(), ModelReader.read(out).graph().nodes().size());
        CliRun parity = run("parity", gpt2, out.toString(), "--json", "--tokens", "4");
        assertEquals(Main.OK, parity.code(), parity.out() + parity.err());
        assertTrue(new ObjectMapper().readTree(parity.out()).get("passed").asBoolean());
    }

    @Test
    void generateCompareShowsBothContinuations() {
        Path stories = TestModels.stories260K();
        Path vector = vectorFile("big.gguf", 3, 64, 3);
        CliRun run = run("generate", stories.toString(), "--prompt", "Once upon a time", "--vector",
                vector + ":8", "--compare", "--max-tokens", "12", "--device", "cpu");
        assertEquals(Main.OK, run.code(), run.err());
        String[] lines = run.out().split("\n");
        assertTrue(lines[1].startsWith("original: Once upon a time, there was a little girl named Lily"), run.out());
        assertTrue(lines[2].startsWith("steered:  Once upon a time"), run.out());
        assertFalse(lines[1].substring(10).equals(lines[2].substring(10)), "the vector changes the continuation");
    }

    private void assertRefused(CliRun run, int code, String message, Path out) {
        assertEquals(code, run.code(), run.err());
        assertTrue(run.err().contains(message), run.err());
        assertEquals(1, run.err().strip().split("\n").length, "one line: " + run.err());
        assertFalse(Files.exists(out), "nothing written");
    }

    @Test
    void refusesAVectorOfTheWrongSize() {
        Path out = tmp.resolve("out");
        assertRefused(run("compile", LLAMA, "--vector", vectorFile("v.gguf", 2, 48, 1).toString(), "-o", out.toString()),
                Main.BAD_INPUT, "vector has 48 values but resid_post.2 of this model has hidden size 32", out);
    }

    @Test
    void refusesALayerOutOfRange() {
        Path out = tmp.resolve("out");
        assertRefused(run("compile", LLAMA, "--vector", vectorFile("v.gguf", 2, 32, 1).toString(), "--layers", "9",
                "-o", out.toString()), Main.USAGE, "layer 9 is out of range: the model has 4 layers (0-3)", out);
    }

    /** A float MatMul import's mlp_out has no bias and no quantised weight: refused in one line, not a crash. */
    @Test
    void refusesBiasModeAtABiaslessFloatMlpOut() {
        Path model = tmp.resolve("stories-f32");
        CliRun imported = run("import", TestPaths.sharedModel("stories260K/stories260K.gguf").toString(), "-o",
                model.toString(), "--weights", "f32");
        assertEquals(Main.OK, imported.code(), imported.err());
        Path out = tmp.resolve("out");
        assertRefused(run("compile", model.toString(), "--vector", vectorFile("v.gguf", 1, 64, 4).toString(),
                "--site", "mlp_out", "--mode", "bias", "--create-bias", "-o", out.toString()), Main.USAGE,
                "--mode bias: mlp_out.1 is not produced through a bias initializer", out);
    }

    @Test
    void refusesNonFiniteValues() throws IOException {
        String header = "{\"layers.2\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer file = ByteBuffer.allocate(8 + json.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        file.putLong(json.length).put(json).putFloat(1f).putFloat(Float.NaN);
        Path vector = Files.write(tmp.resolve("nan.safetensors"), file.array());
        Path out = tmp.resolve("out");
        assertRefused(run("compile", LLAMA, "--vector", vector.toString(), "-o", out.toString()), Main.BAD_INPUT, "NaN", out);
    }

    @Test
    void refusesASiteDiscoveryDidNotFind() {
        Path out = tmp.resolve("out");
        assertRefused(run("compile", TestModels.fusedGpt2().toString(), "--vector", vectorFile("v.gguf", 4, 32, 1).toString(),
                "-o", out.toString()), Main.USAGE, "site resid_post.4 was not found in this model", out);
    }

    @Test
    void refusesBiasModeWhereThereIsNoBias() {
        Path out = tmp.resolve("out");
        assertRefused(run("compile", LLAMA, "--vector", vectorFile("v.gguf", 2, 32, 1).toString(), "--mode", "bias",
                "-o", out.toString()), Main.USAGE, "use --mode add", out);
    }

    @Test
    void refusesToWriteOverTheInput() throws IOException {
        Path copy = tmp.resolve("model");
        Files.createDirectories(copy);
        for (String file : new String[] {"model.onnx", "config.json", "tokenizer.json"}) {
            Files.copy(Path.of(LLAMA, file), copy.resolve(file));
        }
        byte[] before = Files.readAllBytes(copy.resolve("model.onnx"));
        CliRun run = run("compile", copy.toString(), "--vector", vectorFile("v.gguf", 2, 32, 1).toString(),
                "-o", copy.toString());
        assertEquals(Main.USAGE, run.code());
        assertTrue(run.err().contains("is the input model's directory"), run.err());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(copy.resolve("model.onnx"))), "input untouched");
    }
}
