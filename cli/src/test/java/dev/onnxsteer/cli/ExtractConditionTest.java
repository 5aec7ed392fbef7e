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
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code extract --condition} on stories260K: a CAST condition vector (PCA of mean-centred activations)
 * from stories about animals vs stories about toys. The file it writes is taken by {@code compile
 * --condition} with the flags it prints, and the compiled graph fires on exactly the animal stories;
 * the similarities, recomputed here from captured activations with the test's own formula, separate
 * the two sets, and are compared with the mean-difference vector {@code extract} writes by default.
 */
class ExtractConditionTest {
    @TempDir
    static Path tmp;
    static Path model;
    static final Path DATASET = TestPaths.testdata().resolve("conditional-animals-toys.jsonl");
    static final int LAYER = 3;

    @BeforeAll
    static void importModel() {
        model = tmp.resolve("stories");
        CliRun imported = run("import", TestPaths.sharedModel("stories260K/stories260K.gguf").toString(), "-o",
                model.toString());
        assertEquals(Main.OK, imported.code(), imported.err());
    }

    @Test
    void writesAConditionThatCompileTakesAndThatFiresOnExactlyThePositiveSide() throws Exception {
        Path condition = tmp.resolve("animals.safetensors");
        CliRun extracted = run("extract", model.toString(), "--dataset", DATASET.toString(), "--layers", "1-4",
                "--condition", "-o", condition.toString());
        assertEquals(Main.OK, extracted.code(), extracted.err());
        assertTrue(extracted.out().contains("(pca-global, resid_post layers 1-4, position last, 4 pairs)"), extracted.out());
        Matcher advice = Pattern.compile("compile with: --condition (\\S+):(\\S+) --condition-layers (\\d+) "
                + "--condition-comparator (above|below) --condition-aggregate last").matcher(extracted.out());
        assertTrue(advice.find(), extracted.out());
        assertEquals(condition.toString(), advice.group(1));
        assertEquals(Integer.toString(LAYER), advice.group(3), "layer 3 is the one that separates: " + extracted.out());
        String threshold = advice.group(2);
        String comparator = advice.group(4);

        SteeringVectors vectors = VectorFiles.read(condition);
        VectorMetadata metadata = vectors.metadata();
        assertEquals("pca-global", metadata.method());
        assertEquals("true", metadata.extra().get("condition"));
        assertEquals(threshold, metadata.extra().get("condition.threshold." + LAYER));
        assertEquals(comparator, metadata.extra().get("condition.comparator." + LAYER));
        double norm = 0;
        for (float x : vectors.layer(LAYER)) {
            norm += x * (double) x;
        }
        assertEquals(1, Math.sqrt(norm), 1e-5, "a principal component is unit length");

        List<String> animals = new ArrayList<>();
        List<String> toys = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(DATASET)) {
            JsonNode pair = json.readTree(line);
            animals.add(pair.get("positive").asText());
            toys.add(pair.get("negative").asText());
        }
        Gap pca = gap(vectors.layer(LAYER), animals, toys);
        assertTrue(pca.value() > 0, "the condition separates animals from toys: " + pca);
        assertEquals(comparator, pca.positivesAbove() ? "above" : "below", pca.toString());
        double printed = Double.parseDouble(threshold);
        assertTrue(printed > pca.lowerMax() && printed < pca.upperMin(), "threshold " + printed + " lies in the gap " + pca);

        Path compiled = tmp.resolve("conditional");
        Path behaviour = tmp.resolve("behaviour.safetensors");
        float[] v = new float[vectors.hiddenSize()];
        v[0] = 1;
        VectorFiles.write(SteeringVectors.of(Map.of(4, v), VectorMetadata.defaults()), behaviour);
        CliRun compile = run("compile", model.toString(), "--vector", behaviour.toString(), "--condition",
                condition + ":" + threshold, "--condition-layers", Integer.toString(LAYER), "--condition-comparator",
                comparator, "--condition-aggregate", "last", "-o", compiled.toString());
        assertEquals(Main.OK, compile.code(), compile.err());
        List<String> args = new ArrayList<>(List.of("generate", compiled.toString(), "--max-tokens", "2", "--json"));
        for (int i = 0; i < animals.size(); i++) {
            args.addAll(List.of("--prompt", animals.get(i), "--prompt", toys.get(i)));
        }
        CliRun generated = run(args.toArray(String[]::new));
        assertEquals(Main.OK, generated.code(), generated.err());
        String[] rows = generated.out().strip().split("\n");
        assertEquals(2 * animals.size(), rows.length, generated.out());
        for (int r = 0; r < rows.length; r++) {
            JsonNode row = json.readTree(rows[r]);
            assertEquals(r % 2 == 0, row.path("steering").path("condition_met").asBoolean(r % 2 != 0),
                    "the graph fires on animals only: " + rows[r]);
        }

        // the mean difference (extract's default, what the example used before) on the same prompts: both
        // separate; on these four pairs its gap is the wider one (0.068 against 0.044, see docs/conditional.md)
        Path mean = tmp.resolve("animals-mean.safetensors");
        CliRun meanRun = run("extract", model.toString(), "--dataset", DATASET.toString(), "--layers",
                Integer.toString(LAYER), "--condition", "--method", "mean", "-o", mean.toString());
        assertEquals(Main.OK, meanRun.code(), meanRun.err());
        Gap meanGap = gap(VectorFiles.read(mean).layer(LAYER), animals, toys);
        assertTrue(meanGap.value() > 0, "the mean difference separates them too: " + meanGap);
        assertTrue(meanRun.out().contains(String.format(java.util.Locale.ROOT, "%8.4f", meanGap.value())),
                "extract --condition prints the gap recomputed here: " + meanGap + "\n" + meanRun.out());
        assertTrue(extracted.out().contains(String.format(java.util.Locale.ROOT, "%8.4f", pca.value())),
                "extract --condition prints the gap recomputed here: " + pca + "\n" + extracted.out());
    }

    @Test
    void refusesAConditionWithoutADatasetOrReadAtEveryToken() {
        CliRun pair = run("extract", model.toString(), "--positive", "a cat", "--negative", "a doll", "--condition",
                "-o", tmp.resolve("refused-pair.safetensors").toString());
        assertEquals(Main.USAGE, pair.code(), pair.err());
        assertTrue(pair.err().contains("--condition needs a --dataset of positive and negative prompts"), pair.err());
        CliRun all = run("extract", model.toString(), "--dataset", DATASET.toString(), "--condition", "--position", "all",
                "-o", tmp.resolve("refused-all.safetensors").toString());
        assertEquals(Main.USAGE, all.code(), all.err());
        assertTrue(all.err().contains("use --position last or mean"), all.err());
        assertTrue(Files.notExists(tmp.resolve("refused-pair.safetensors")) && Files.notExists(tmp.resolve("refused-all.safetensors")));
    }

    /**
     * The two sets' similarities to {@code c} at the last prompt token: the set that sits higher, and
     * the distance from the lower set's highest to the higher set's lowest (negative when they overlap).
     */
    record Gap(boolean positivesAbove, double lowerMax, double upperMin) {
        double value() {
            return upperMin - lowerMax;
        }
    }

    private static Gap gap(float[] c, List<String> positive, List<String> negative) {
        double[] p = similarities(c, positive);
        double[] n = similarities(c, negative);
        double pMin = Double.MAX_VALUE, pMax = -Double.MAX_VALUE, nMin = Double.MAX_VALUE, nMax = -Double.MAX_VALUE;
        for (double s : p) {
            pMin = Math.min(pMin, s);
            pMax = Math.max(pMax, s);
        }
        for (double s : n) {
            nMin = Math.min(nMin, s);
            nMax = Math.max(nMax, s);
        }
        boolean above = pMin - nMax >= nMin - pMax;
        return above ? new Gap(true, nMax, pMin) : new Gap(false, pMax, nMin);
    }

    private static double[] similarities(float[] c, List<String> prompts) {
        List<long[]> ids = new ArrayList<>();
        try (Tokenizer tokenizer = Tokenizer.load(model, ModelConfig.load(model))) {
            for (String p : prompts) {
                ids.add(tokenizer.encode(p, true));
            }
        }
        try (ActivationCapture capture = ActivationCapture.open(ModelFiles.locate(model, null), SiteKind.RESID_POST,
                List.of(LAYER), Padding.RIGHT, SessionConfig.cpu())) {
            List<PromptActivations> acts = capture.run(ids, Position.LAST);
            double[] out = new double[ids.size()];
            for (int r = 0; r < out.length; r++) {
                out[r] = ConditionalSteeringTest.similarity(c, acts.get(r).at(0)[0]);
            }
            return out;
        }
    }
}
