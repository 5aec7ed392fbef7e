package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code extract} and {@code sweep} on the real stories260K, imported for this class. */
class ExtractCommandTest {
    @TempDir
    static Path shared;

    @TempDir
    Path tmp;

    static Path stories;


    @BeforeAll
    static void importStories() {
        stories = GgufImporter.importModel(TestPaths.sharedModel("stories260K/stories260K.gguf"), shared.resolve("stories"))
                .directory();
    }

    static Path happySad() {
        return TestPaths.testdata().resolve("happy-sad.jsonl");
    }

    @Test
    void onePairBecomesAControlVectorWithMetadata() {
        Path out = tmp.resolve("happy.gguf");
        CliRun run = run("extract", stories.toString(), "--positive", "Lily was happy", "--negative", "Lily was sad",
                "--layers", "2-4", "--device", "cpu", "-o", out.toString());
        assertEquals(Main.OK, run.code(), run.err());
        assertTrue(run.out().contains("wrote " + out + " (diff, resid_post layers 2-4, position last, 1 pair)"), run.out());
        SteeringVectors vectors = VectorFiles.read(out);
        assertEquals(Set.of(2, 3, 4), vectors.layerIndices());
        assertEquals(64, vectors.hiddenSize());
        assertEquals("resid_post", vectors.metadata().site());
        assertEquals("diff", vectors.metadata().method());
        assertEquals(Provenance.sha256(stories.resolve("model.onnx")), vectors.metadata().sourceModelHash());
        assertEquals("1", vectors.metadata().extra().get("pairs"));
        assertEquals("last", vectors.metadata().extra().get("position"));
        float[] v = vectors.layer(3);
        double norm = 0;
        for (float x : v) {
            norm += x * x;
        }
        assertEquals(Math.sqrt(norm), Double.parseDouble(vectors.metadata().extra().get("raw_norm.3")), 1e-4);
        assertTrue(Double.parseDouble(vectors.metadata().extra().get("activation_norm.3")) > 0);
    }

    @Test
    void datasetMeanWithNormalizeAndTheDefaultLayers() {
        Path gguf = tmp.resolve("mean.gguf");
        CliRun run = run("extract", stories.toString(), "--dataset", happySad().toString(), "--normalize", "--batch", "8",
                "--device", "cpu", "-o", gguf.toString());
        assertEquals(Main.OK, run.code(), run.err());
        assertTrue(run.err().contains("layer 0 left out"), run.err());
        SteeringVectors vectors = VectorFiles.read(gguf);
        assertEquals(Set.of(1, 2, 3, 4), vectors.layerIndices());
        assertEquals("mean", vectors.metadata().method());
        assertEquals("50", vectors.metadata().extra().get("pairs"));
        double norm = 0;
        for (float x : vectors.layer(4)) {
            norm += x * x;
        }
        assertEquals(1.0, Math.sqrt(norm), 1e-5);

        Path safetensors = tmp.resolve("pca.safetensors");
        CliRun pca = run("extract", stories.toString(), "--dataset", happySad().toString(), "--method", "pca-center",
                "--position", "mean", "--layers", "all", "--device", "cpu", "-o", safetensors.toString());
        assertEquals(Main.OK, pca.code(), pca.err());
        assertEquals(Set.of(0, 1, 2, 3, 4), VectorFiles.read(safetensors).layerIndices());
        assertEquals("pca-center", VectorFiles.read(safetensors).metadata().method());
    }

    @Test
    void sweepPrintsATableJsonAndAChart() throws Exception {
        Path png = tmp.resolve("sweep.png");
        CliRun table = run("sweep", stories.toString(), "--dataset", happySad().toString(), "--device", "cpu", "--plot",
                png.toString());
        assertEquals(Main.OK, table.code(), table.err());
        assertTrue(table.out().contains("40 train / 10 held-out pairs"), table.out());
        assertTrue(table.out().contains("best: layer "), table.out());
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(900, image.getWidth());

        CliRun json = run("sweep", stories.toString(), "--dataset", happySad().toString(), "--device", "cpu", "--json",
                "--layers", "1-3", "--holdout", "0.3", "--method", "pca");
        assertEquals(Main.OK, json.code(), json.err());
        JsonNode root = new ObjectMapper().readTree(json.out());
        assertEquals(15, root.get("held_out_pairs").asInt());
        assertEquals(3, root.get("layers").size());
        for (JsonNode layer : root.get("layers")) {
            double accuracy = layer.get("accuracy").asDouble();
            assertTrue(accuracy >= 0 && accuracy <= 1, layer.toString());
        }
    }

    @Test
    void extractedVectorSteersACompiledModel() {
        Path vector = tmp.resolve("sad.gguf");
        CliRun extracted = run("extract", stories.toString(), "--positive", "Lily was sad", "--negative", "Lily was happy",
                "--layers", "4", "--device", "cpu", "-o", vector.toString());
        assertEquals(Main.OK, extracted.code(), extracted.err());
        Path steered = tmp.resolve("stories-sad");
        CliRun compiled = run("compile", stories.toString(), "--vector", vector.toString(), "--coeff", "0.5", "-o",
                steered.toString());
        assertEquals(Main.OK, compiled.code(), compiled.err());
        String[] prompt = {"--prompt", "Once upon a time", "--max-tokens", "80", "--device", "cpu"};
        CliRun plain = run(concat(new String[] {"generate", stories.toString()}, prompt));
        CliRun sad = run(concat(new String[] {"generate", steered.toString()}, prompt));
        assertEquals(Main.OK, sad.code(), sad.err());
        assertTrue(plain.out().startsWith("Once upon a time, there was a little girl named Lily."), plain.out());
        assertNotEquals(plain.out(), sad.out());
        assertFalse(plain.out().contains("sad"), plain.out());
        assertTrue(sad.out().contains("sad"), sad.out());
    }

    static String[] concat(String[] a, String[] b) {
        String[] all = new String[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void badInputIsOneLineAndWritesNothing() throws Exception {
        Path empty = tmp.resolve("empty.jsonl");
        Files.writeString(empty, "\n\n");
        Path emptySide = tmp.resolve("empty-side.jsonl");
        Files.writeString(emptySide, "{\"positive\": \"happy\", \"negative\": \"sad\"}\n{\"positive\": \"glad\", \"negative\": \"\"}\n");
        Path longPrompt = tmp.resolve("long.jsonl");
        Files.writeString(longPrompt, "{\"positive\": \"happy\", \"negative\": \"sad\"}\n{\"positive\": \""
                + "Lily was happy. ".repeat(600) + "\", \"negative\": \"sad\"}\n");
        Path malformed = tmp.resolve("malformed.jsonl");
        Files.writeString(malformed, "{\"positive\": \"happy\", \"negative\": \"sad\"}\n{\"positive\": \"glad\",\n");
        Path out = tmp.resolve("v.safetensors");
        String model = stories.toString();
        List<String[]> cases = List.of(
                new String[] {"has no pairs", "--dataset", empty.toString(), "-o", out.toString()},
                new String[] {"empty-side.jsonl line 2: the negative side is empty", "--dataset", emptySide.toString(), "-o", out.toString()},
                new String[] {"malformed.jsonl line 2: not valid JSON", "--dataset", malformed.toString(), "-o", out.toString()},
                new String[] {"long.jsonl line 2: the positive side has", "--dataset", longPrompt.toString(), "-o", out.toString()},
                new String[] {"layer 7 is out of range: the model has 5 layers", "--positive", "a", "--negative", "b", "--layers", "7", "-o", out.toString()},
                new String[] {"does not exist", "--positive", "a", "--negative", "b", "-o", tmp.resolve("missing/dir/v.gguf").toString()},
                new String[] {"includes layer 0", "--positive", "a", "--negative", "b", "--layers", "0-2", "-o", tmp.resolve("v.gguf").toString()},
                new String[] {"the positive side is empty", "--positive", "", "--negative", "b", "-o", out.toString()},
                new String[] {"exactly one pair", "--dataset", happySad().toString(), "--method", "diff", "-o", out.toString()},
                new String[] {"nothing to extract from", "-o", out.toString()},
                new String[] {"unknown method 'median'", "--dataset", happySad().toString(), "--method", "median", "-o", out.toString()});
        for (String[] c : cases) {
            String[] args = new String[c.length + 3];
            args[0] = "extract";
            args[1] = model;
            args[2] = "--device";
            args[3] = "cpu";
            System.arraycopy(c, 1, args, 4, c.length - 1);
            CliRun run = run(args);
            assertNotEquals(Main.OK, run.code(), c[0]);
            assertTrue(run.err().startsWith("error: ") && run.err().contains(c[0]), "expected '" + c[0] + "' in " + run.err());
            assertEquals(1, run.err().strip().lines().count(), "one line: " + run.err());
            assertFalse(Files.exists(out), "nothing written for " + c[0]);
            assertFalse(Files.exists(tmp.resolve("v.gguf")), "nothing written for " + c[0]);
        }
        CliRun sweep = run("sweep", model, "--dataset", empty.toString(), "--device", "cpu");
        assertEquals(Main.BAD_INPUT, sweep.code(), "an empty dataset is a bad input file");
        assertTrue(sweep.err().contains("has no pairs"), sweep.err());
        CliRun plot = run("sweep", model, "--dataset", happySad().toString(), "--device", "cpu", "--plot",
                tmp.resolve("nowhere/chart.png").toString());
        assertEquals(Main.USAGE, plot.code());
        assertTrue(plot.err().contains("does not exist"), plot.err());
    }
}
