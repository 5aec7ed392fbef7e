package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.capture.Padding;
import dev.onnxsteer.capture.Position;
import dev.onnxsteer.capture.PromptActivations;
import dev.onnxsteer.extract.Sweep;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sweep --condition} on stories260K with 16 animal/toy pairs, half held out: the precision,
 * recall and F1 it reports for its best choice are recomputed here from captured activations with the
 * test's own similarity and counting, no threshold of the grid does better at that layer, and the file
 * it writes carries the choice in its metadata.
 */
class ConditionSweepCommandTest {
    @TempDir
    static Path tmp;
    static Path model;
    static final Path DATASET = TestPaths.testdata().resolve("conditional-animals-toys-16.jsonl");

    @BeforeAll
    static void importModel() {
        model = tmp.resolve("stories");
        CliRun imported = run("import", TestPaths.sharedModel("stories260K/stories260K.gguf").toString(), "-o",
                model.toString());
        assertEquals(Main.OK, imported.code(), imported.err());
    }

    @Test
    void reportsTheBestCellWithTheF1ItHasOnTheHeldOutPromptsAndRecordsIt() throws Exception {
        Path file = tmp.resolve("animals.safetensors");
        Path plot = tmp.resolve("animals.png");
        CliRun swept = run("sweep", model.toString(), "--dataset", DATASET.toString(), "--condition", "--holdout", "0.5",
                "--layers", "1-4", "--json", "--plot", plot.toString(), "-o", file.toString());
        assertEquals(Main.OK, swept.code(), swept.err());
        JsonNode result = new ObjectMapper().readTree(swept.out());
        assertEquals(8, result.get("train_pairs").asInt());
        assertEquals(8, result.get("held_out_pairs").asInt());
        assertEquals(2 * 4 * 2, result.get("cells").size(), "both aggregates, layers 1-4, above and below");
        JsonNode best = result.get("best");
        int layer = best.get("layer").asInt();
        String comparator = best.get("comparator").asText();
        String aggregate = best.get("aggregate").asText();
        double threshold = best.get("threshold").asDouble();
        for (JsonNode cell : result.get("cells")) {
            assertTrue(cell.get("f1").asDouble() <= best.get("f1").asDouble() + 1e-12, "best is the highest F1: " + cell);
        }

        SteeringVectors vectors = VectorFiles.read(file);
        Map<String, String> extra = vectors.metadata().extra();
        assertEquals(Integer.toString(layer), extra.get("condition.layer"));
        assertEquals(comparator, extra.get("condition.comparator"));
        assertEquals(aggregate, extra.get("condition.aggregate"));
        assertEquals("sweep", extra.get("condition.chosen_by"));
        assertEquals(threshold, Double.parseDouble(extra.get("condition.threshold")), 1e-9);
        assertEquals("8", extra.get("pairs"), "the vector comes from the training pairs only");

        // the held-out prompts, scored here with the test's own formula on the vector the file holds
        List<String> positives = new ArrayList<>();
        List<String> negatives = new ArrayList<>();
        List<String> lines = Files.readAllLines(DATASET);
        BitSet heldOut = Sweep.heldOutIndices(lines.size(), 0.5, 0);
        ObjectMapper json = new ObjectMapper();
        for (int i = heldOut.nextSetBit(0); i >= 0; i = heldOut.nextSetBit(i + 1)) {
            positives.add(json.readTree(lines.get(i)).get("positive").asText());
            negatives.add(json.readTree(lines.get(i)).get("negative").asText());
        }
        Position position = Position.parse(aggregate);
        double[] pos = similarities(vectors.layer(layer), layer, positives, position);
        double[] neg = similarities(vectors.layer(layer), layer, negatives, position);
        double f1 = f1(pos, neg, comparator, threshold);
        assertEquals(f1, best.get("f1").asDouble(), 1e-9, "F1 recomputed from the held-out activations");
        double step = result.get("threshold_step").asDouble();
        for (int k = -10; k <= 1.0 / step + 10; k++) {
            assertTrue(f1(pos, neg, comparator, k * step) <= f1 + 1e-12, "no threshold of the grid does better: " + k * step);
        }
        assertTrue(f1 > 2.0 / 3, "better than firing on everything (F1 2/3): " + f1);

        // compile reads the choice from the file's metadata, and the graph decides as the sweep scored
        Path behaviour = tmp.resolve("behaviour.safetensors");
        float[] v = new float[vectors.hiddenSize()];
        v[0] = 1;
        VectorFiles.write(SteeringVectors.of(Map.of(4, v), VectorMetadata.defaults()), behaviour);
        Path compiled = tmp.resolve("conditional");
        CliRun compile = run("compile", model.toString(), "--vector", behaviour.toString(), "--condition", file.toString(),
                "-o", compiled.toString());
        assertEquals(Main.OK, compile.code(), compile.err());
        assertTrue(compile.out().contains("layers, threshold, comparator, aggregate from " + file
                + " metadata (chosen by sweep)"), compile.out());
        JsonNode recorded = json.readTree(ModelReader.read(compiled.resolve(ModelFiles.MODEL_FILE)).metadata()
                .get(CompiledModelAbi.CONDITION));
        assertEquals("[" + layer + "]", recorded.get("layers").toString());
        assertEquals(comparator, recorded.get("comparator").asText());
        assertEquals(aggregate, recorded.get("aggregate").asText());
        assertEquals(threshold, recorded.get("threshold").asDouble(), 1e-6);
        List<String> args = new ArrayList<>(List.of("generate", compiled.toString(), "--max-tokens", "1", "--json"));
        for (int i = 0; i < positives.size(); i++) {
            args.addAll(List.of("--prompt", positives.get(i), "--prompt", negatives.get(i)));
        }
        CliRun generated = run(args.toArray(String[]::new));
        assertEquals(Main.OK, generated.code(), generated.err());
        String[] rows = generated.out().strip().split("\n");
        for (int r = 0; r < rows.length; r++) {
            double s = (r % 2 == 0 ? pos : neg)[r / 2];
            assertEquals(fires(s, comparator, threshold), json.readTree(rows[r]).path("steering").path("condition_met")
                    .asBoolean(), "row " + r + " with similarity " + s + ": " + rows[r]);
        }

        // a flag overrides the file; the rest still comes from it
        CliRun overridden = run("compile", model.toString(), "--vector", behaviour.toString(), "--condition",
                file + ":0.5", "--condition-aggregate", aggregate.equals("last") ? "mean" : "last", "-o",
                tmp.resolve("overridden").toString(), "--json");
        assertEquals(Main.OK, overridden.code(), overridden.err());
        JsonNode condition = json.readTree(overridden.out()).get("condition").get("conditions").get(0);
        assertEquals(0.5, condition.get("threshold").asDouble(), 1e-9);
        assertEquals(comparator, condition.get("comparator").asText());
        assertEquals("[\"layers, comparator from " + file + " metadata (chosen by sweep)\",\"threshold from --condition "
                + "FILE:THRESHOLD\",\"aggregate from --condition-aggregate\"]", condition.get("sources").toString());

        BufferedImage image = ImageIO.read(plot.toFile());
        assertEquals(900, image.getWidth());
        assertTrue(image.getHeight() > 500, "two panels, one per aggregate");
    }

    @Test
    void refusesADiffMethodOrAPositionAndWritesNothing() {
        Path file = tmp.resolve("refused.safetensors");
        CliRun diff = run("sweep", model.toString(), "--dataset", DATASET.toString(), "--condition", "--method", "diff",
                "-o", file.toString());
        assertEquals(Main.USAGE, diff.code(), diff.err());
        assertTrue(diff.err().contains("--method diff takes one pair"), diff.err());
        CliRun all = run("sweep", model.toString(), "--dataset", DATASET.toString(), "--condition", "--position", "all",
                "-o", file.toString());
        assertEquals(Main.USAGE, all.code(), all.err());
        assertTrue(all.err().contains("--condition-aggregate last|mean|both"), all.err());
        CliRun plain = run("sweep", model.toString(), "--dataset", DATASET.toString(), "-o", file.toString());
        assertEquals(Main.USAGE, plain.code(), plain.err());
        assertTrue(plain.err().contains("-o writes a condition vector: it goes with --condition"), plain.err());
        assertTrue(Files.notExists(file));
    }

    static double f1(double[] positive, double[] negative, String comparator, double threshold) {
        int tp = 0;
        int fp = 0;
        for (double s : positive) {
            tp += fires(s, comparator, threshold) ? 1 : 0;
        }
        for (double s : negative) {
            fp += fires(s, comparator, threshold) ? 1 : 0;
        }
        return tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + (positive.length - tp));
    }

    private static boolean fires(double s, String comparator, double threshold) {
        return comparator.equals("above") ? s > threshold : s < threshold;
    }

    private static double[] similarities(float[] c, int layer, List<String> prompts, Position position) {
        List<long[]> ids = new ArrayList<>();
        try (Tokenizer tokenizer = Tokenizer.load(model, ModelConfig.load(model))) {
            for (String p : prompts) {
                ids.add(tokenizer.encode(p, true));
            }
        }
        try (ActivationCapture capture = ActivationCapture.open(ModelFiles.locate(model, null), SiteKind.RESID_POST,
                List.of(layer), Padding.RIGHT, SessionConfig.cpu())) {
            List<PromptActivations> acts = capture.run(ids, position);
            double[] out = new double[ids.size()];
            for (int r = 0; r < out.length; r++) {
                out[r] = ConditionalSteeringTest.similarity(c, acts.get(r).samples().get(0)[0]);
            }
            return out;
        }
    }
}
