package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.capture.Padding;
import dev.onnxsteer.capture.Position;
import dev.onnxsteer.capture.PromptActivations;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.SamplingConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Conditional steering (CAST) on stories260K: a condition extracted from stories about animals vs stories
 * about toys gates a behaviour vector. In one batch mixing both kinds, the compiled model steers exactly
 * the rows whose condition fires, token for token equal to a Java reference that evaluates the condition
 * on the prompt's captured activations (not the compiled graph) and then takes the unconditional
 * compilation's or the original model's continuation for that row; KV cache and full recompute agree.
 */
class ConditionalSteeringTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path conditionFile;
    static Path behaviour;

    static final List<String> ANIMALS = List.of("The cat sat on the mat and purred.", "A big dog ran in the park.",
            "The little bird sang in the tree.", "The fish swam in the pond with a frog.");
    static final List<String> TOYS = List.of("Tom played with his red ball and his toy car.",
            "The doll had a pretty pink dress.", "She built a tall tower with her blocks.",
            "The toy train went round and round.");
    static final List<String> HELD_OUT = List.of("The cow ate grass on the farm.", "Lily had a new teddy bear.",
            "A duck swam in the lake.", "Ben got a shiny kite and a puzzle.");
    static final int LAYER = 3;
    static final GenerationConfig GREEDY = new GenerationConfig(16, SamplingConfig.GREEDY, List.of(), List.of(), true);

    @BeforeAll
    static void setUp() throws Exception {
        model = tmp.resolve("stories");
        CliRun imported = run("import", TestPaths.sharedModel("stories260K/stories260K.gguf").toString(), "-o",
                model.toString());
        assertEquals(Main.OK, imported.code(), imported.err());
        StringBuilder dataset = new StringBuilder();
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < ANIMALS.size(); i++) {
            dataset.append(json.createObjectNode().put("positive", ANIMALS.get(i)).put("negative", TOYS.get(i)))
                    .append('\n');
        }
        Path pairs = Files.writeString(tmp.resolve("animals-vs-toys.jsonl"), dataset.toString());
        conditionFile = tmp.resolve("animals.safetensors");
        CliRun extracted = run("extract", model.toString(), "--dataset", pairs.toString(), "--layers",
                Integer.toString(LAYER), "-o", conditionFile.toString());
        assertEquals(Main.OK, extracted.code(), extracted.err());
        Random random = new Random(42);
        float[] v = new float[64];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        behaviour = tmp.resolve("behaviour.safetensors");
        VectorFiles.write(SteeringVectors.of(Map.of(4, v), VectorMetadata.defaults()), behaviour);
    }

    /** cos(h, tanh(P h)) with P = c c^T / (c . c), in double: the paper's condition, written for the test. */
    static double similarity(float[] c, float[] h) {
        double cc = 0;
        double ch = 0;
        for (int i = 0; i < c.length; i++) {
            cc += c[i] * (double) c[i];
            ch += c[i] * (double) h[i];
        }
        double[] p = new double[c.length];
        double dot = 0;
        double hNorm = 0;
        double pNorm = 0;
        for (int i = 0; i < c.length; i++) {
            p[i] = Math.tanh(c[i] * ch / cc);
            dot += p[i] * h[i];
            hNorm += h[i] * (double) h[i];
            pNorm += p[i] * p[i];
        }
        return dot / Math.sqrt(hNorm * pNorm);
    }

    @Test
    void steersExactlyTheRowsWhoseConditionFiresWithCacheAndRecomputeAgreeing() throws Exception {
        float[] c = VectorFiles.read(conditionFile).layer(LAYER);
        List<String> prompts = prompts();
        List<long[]> ids = encode(prompts);
        double[] sims = similarities(c, LAYER, ids, Position.LAST);
        Split split = animalsVsToys(sims);
        boolean above = split.above();
        float threshold = split.threshold();
        boolean[] fires = new boolean[ids.size()];
        int firing = 0;
        for (int r = 0; r < ids.size(); r++) {
            fires[r] = above ? sims[r] > threshold : sims[r] < threshold;
            firing += fires[r] ? 1 : 0;
        }
        assertTrue(firing > 0 && firing < ids.size(), "the batch mixes rows that fire and rows that do not");

        Path conditional = tmp.resolve("conditional");
        CliRun compiled = run("compile", model.toString(), "--vector", behaviour.toString(), "--coeff", "6",
                "--condition", conditionFile + ":" + String.format(Locale.ROOT, "%.9g", threshold), "--condition-layers",
                Integer.toString(LAYER), "--condition-comparator", above ? "above" : "below", "--condition-aggregate", "last",
                "-o", conditional.toString());
        assertEquals(Main.OK, compiled.code(), compiled.err());
        assertTrue(compiled.out().contains("condition"), compiled.out());
        Path unconditional = tmp.resolve("unconditional");
        CliRun plain = run("compile", model.toString(), "--vector", behaviour.toString(), "--coeff", "6", "-o",
                unconditional.toString());
        assertEquals(Main.OK, plain.code(), plain.err());

        GenerationConfig greedy = new GenerationConfig(16, SamplingConfig.GREEDY, List.of(), List.of(), true);
        Map<Integer, Boolean> decided = new TreeMap<>();
        List<Generation> cached = generate(conditional, ids, greedy, decided);
        List<Generation> recomputed = generate(conditional, ids, new GenerationConfig(16, SamplingConfig.GREEDY,
                List.of(), List.of(), false), new TreeMap<>());
        List<Generation> steered = generate(unconditional, ids, greedy, new TreeMap<>());
        List<Generation> original = generate(model, ids, greedy, new TreeMap<>());
        int differing = 0;
        for (int r = 0; r < ids.size(); r++) {
            assertEquals(fires[r], decided.get(r), "the graph's decision for row " + r + " (" + prompts.get(r) + ")");
            List<Long> expected = (fires[r] ? steered : original).get(r).tokenIds();
            assertEquals(expected, cached.get(r).tokenIds(), "row " + r + " (" + prompts.get(r) + ")");
            assertEquals(cached.get(r).tokenIds(), recomputed.get(r).tokenIds(), "recompute, row " + r);
            differing += steered.get(r).tokenIds().equals(original.get(r).tokenIds()) ? 0 : 1;
        }
        assertTrue(differing > 0, "the behaviour vector changes what the model says");
        for (int r = 0; r < ids.size(); r++) {
            if (fires[r]) {
                assertNotEquals(original.get(r).tokenIds(), cached.get(r).tokenIds(), "a firing row is steered: " + r);
                break;
            }
        }
    }

    @Test
    void severalConditionsCombineByTheirRuleRowByRowWithCacheAndRecomputeAgreeing() throws Exception {
        List<String> prompts = prompts();
        List<long[]> ids = encode(prompts);
        double[] animalSims = similarities(VectorFiles.read(conditionFile).layer(LAYER), LAYER, ids, Position.LAST);
        Split animals = animalsVsToys(animalSims);
        // a second condition, unrelated to the topic: a seeded direction at layer 2 over the prompt's mean,
        // its threshold the batch's median similarity, so it fires on half the rows
        Random random = new Random(7);
        float[] other = new float[64];
        for (int i = 0; i < other.length; i++) {
            other[i] = (float) random.nextGaussian();
        }
        Path otherFile = tmp.resolve("other-condition.safetensors");
        VectorFiles.write(SteeringVectors.of(Map.of(2, other), VectorMetadata.defaults()), otherFile);
        double[] otherSims = similarities(other, 2, ids, Position.MEAN);
        double[] sorted = otherSims.clone();
        Arrays.sort(sorted);
        float otherThreshold = (float) ((sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2);
        boolean[] first = new boolean[ids.size()];
        boolean[] second = new boolean[ids.size()];
        int onlyFirst = 0;
        int onlySecond = 0;
        for (int r = 0; r < ids.size(); r++) {
            first[r] = animals.fires(animalSims[r]);
            second[r] = otherSims[r] > otherThreshold;
            onlyFirst += first[r] && !second[r] ? 1 : 0;
            onlySecond += second[r] && !first[r] ? 1 : 0;
        }
        assertTrue(onlyFirst > 0 && onlySecond > 0, "or and and decide differently on this batch");
        Path unconditional = tmp.resolve("unconditional-rules");
        assertEquals(Main.OK, run("compile", model.toString(), "--vector", behaviour.toString(), "--coeff", "6", "-o",
                unconditional.toString()).code());
        List<Generation> steered = generate(unconditional, ids, GREEDY, new TreeMap<>());
        List<Generation> original = generate(model, ids, GREEDY, new TreeMap<>());
        for (String rule : List.of("or", "and")) {
            Path compiled = tmp.resolve("conditional-" + rule);
            CliRun compile = run("compile", model.toString(), "--vector", behaviour.toString(), "--coeff", "6",
                    "--condition", conditionFile + ":" + String.format(Locale.ROOT, "%.9g", animals.threshold()),
                    "--condition-layers", Integer.toString(LAYER), "--condition-comparator", animals.comparator(),
                    "--condition-aggregate", "last",
                    "--condition", otherFile + ":" + String.format(Locale.ROOT, "%.9g", otherThreshold),
                    "--condition-layers", "2", "--condition-comparator", "above", "--condition-aggregate", "mean",
                    "--condition-rule", rule, "-o", compiled.toString());
            assertEquals(Main.OK, compile.code(), compile.err());
            assertTrue(compile.out().contains("condition rule " + rule), compile.out());
            JsonNode recorded = new ObjectMapper().readTree(ModelReader.read(compiled.resolve(ModelFiles.MODEL_FILE))
                    .metadata().get(CompiledModelAbi.CONDITION));
            assertEquals(rule, recorded.get("rule").asText());
            assertEquals("[3]", recorded.get("conditions").get(0).get("layers").toString());
            assertEquals("mean", recorded.get("conditions").get(1).get("aggregate").asText());
            Map<Integer, Boolean> decided = new TreeMap<>();
            List<Generation> cached = generate(compiled, ids, GREEDY, decided);
            List<Generation> recomputed = generate(compiled, ids, new GenerationConfig(16, SamplingConfig.GREEDY,
                    List.of(), List.of(), false), new TreeMap<>());
            int firing = 0;
            for (int r = 0; r < ids.size(); r++) {
                boolean fires = rule.equals("or") ? first[r] || second[r] : first[r] && second[r];
                firing += fires ? 1 : 0;
                assertEquals(fires, decided.get(r), rule + ": the graph's decision for row " + r + " (" + prompts.get(r)
                        + ": conditions " + first[r] + ", " + second[r] + ")");
                assertEquals((fires ? steered : original).get(r).tokenIds(), cached.get(r).tokenIds(), rule + ", row " + r);
                assertEquals(cached.get(r).tokenIds(), recomputed.get(r).tokenIds(), rule + ", recompute, row " + r);
            }
            assertTrue(firing > 0 && firing < ids.size(), rule + ": the batch mixes rows that fire and rows that do not");
        }
        CliRun mismatched = run("compile", model.toString(), "--vector", behaviour.toString(), "--condition",
                conditionFile.toString(), "--condition", otherFile.toString(), "--condition", otherFile.toString(),
                "--condition-layers", "3", "--condition-layers", "2", "-o", tmp.resolve("refused-rule").toString());
        assertEquals(Main.USAGE, mismatched.code(), mismatched.err());
        assertTrue(mismatched.err().contains("--condition-layers is given 2 times for 3 --condition files"), mismatched.err());
    }

    @Test
    void generateJsonReportsEachRowsDecision() throws Exception {
        Path conditional = tmp.resolve("conditional-json");
        // threshold -1 with "above": every prompt fires; +1: none does (cosine similarity lies in [-1, 1])
        CliRun compiled = run("compile", model.toString(), "--vector", behaviour.toString(), "--condition",
                conditionFile + ":-1", "-o", conditional.toString());
        assertEquals(Main.OK, compiled.code(), compiled.err());
        CliRun generated = run("generate", conditional.toString(), "--prompt", ANIMALS.get(0), "--prompt", TOYS.get(0),
                "--max-tokens", "4", "--json");
        assertEquals(Main.OK, generated.code(), generated.err());
        ObjectMapper json = new ObjectMapper();
        for (String line : generated.out().strip().split("\n")) {
            JsonNode row = json.readTree(line);
            assertTrue(row.path("steering").path("condition_met").asBoolean(false), line);
        }
        Path never = tmp.resolve("conditional-never");
        assertEquals(Main.OK, run("compile", model.toString(), "--vector", behaviour.toString(), "--condition",
                conditionFile + ":1", "-o", never.toString()).code());
        CliRun none = run("generate", never.toString(), "--prompt", ANIMALS.get(0), "--max-tokens", "4", "--json");
        assertEquals(Main.OK, none.code(), none.err());
        assertEquals(false, json.readTree(none.out().strip()).path("steering").path("condition_met").asBoolean(true));
    }

    @Test
    void refusesAConditionReadAfterTheSteeringOrOtherThanAConstantAdd() throws Exception {
        Path early = tmp.resolve("early.safetensors");
        VectorFiles.write(SteeringVectors.of(Map.of(1, new float[64]), VectorMetadata.defaults()), early);
        CliRun after = run("compile", model.toString(), "--vector", early.toString(), "--condition", conditionFile.toString(),
                "-o", tmp.resolve("refused-after").toString());
        assertEquals(Main.USAGE, after.code(), after.err());
        assertTrue(after.err().contains("condition site resid_post.3 comes after a steered site"), after.err());
        CliRun input = run("compile", model.toString(), "--vector", behaviour.toString(), "--mode", "input", "--condition",
                conditionFile.toString(), "-o", tmp.resolve("refused-input").toString());
        assertEquals(Main.USAGE, input.code(), input.err());
        assertTrue(input.err().contains("a condition gates --op add in --mode add"), input.err());
        assertTrue(Files.notExists(tmp.resolve("refused-after")) && Files.notExists(tmp.resolve("refused-input")));
    }

    /** The threshold halfway between the training sets: animals on one side, toys on the other. */
    record Split(float threshold, boolean above) {
        String comparator() {
            return above ? "above" : "below";
        }

        boolean fires(double similarity) {
            return above ? similarity > threshold : similarity < threshold;
        }
    }

    private static Split animalsVsToys(double[] sims) {
        double animalMin = Double.MAX_VALUE;
        double animalMax = -Double.MAX_VALUE;
        double toyMin = Double.MAX_VALUE;
        double toyMax = -Double.MAX_VALUE;
        for (int i = 0; i < HELD_OUT.size(); i++) {
            animalMin = Math.min(animalMin, sims[3 * i]);
            animalMax = Math.max(animalMax, sims[3 * i]);
            toyMin = Math.min(toyMin, sims[3 * i + 1]);
            toyMax = Math.max(toyMax, sims[3 * i + 1]);
        }
        boolean above = animalMin > toyMax;
        assertTrue(above || animalMax < toyMin, "the condition separates animals from toys: animals ["
                + animalMin + ", " + animalMax + "], toys [" + toyMin + ", " + toyMax + "]");
        return new Split((float) (above ? (animalMin + toyMax) / 2 : (animalMax + toyMin) / 2), above);
    }

    /** The test batch: each animal story, toy story and held-out story in turn. */
    private static List<String> prompts() {
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < HELD_OUT.size(); i++) {
            prompts.add(ANIMALS.get(i));
            prompts.add(TOYS.get(i));
            prompts.add(HELD_OUT.get(i));
        }
        return prompts;
    }

    private static List<long[]> encode(List<String> prompts) {
        List<long[]> ids = new ArrayList<>();
        try (Tokenizer tokenizer = Tokenizer.load(model, ModelConfig.load(model))) {
            for (String p : prompts) {
                ids.add(tokenizer.encode(p, true));
            }
        }
        return ids;
    }

    /** Each row's condition similarity at {@code layer}, from the original model's captured activations. */
    private static double[] similarities(float[] c, int layer, List<long[]> ids, Position position) {
        double[] sims = new double[ids.size()];
        try (ActivationCapture capture = ActivationCapture.open(ModelFiles.locate(model, null), SiteKind.RESID_POST,
                List.of(layer), Padding.RIGHT, SessionConfig.cpu())) {
            List<PromptActivations> acts = capture.run(ids, position);
            for (int r = 0; r < ids.size(); r++) {
                sims[r] = similarity(c, acts.get(r).samples().get(0)[0]);
            }
        }
        return sims;
    }

    private static List<Generation> generate(Path dir, List<long[]> ids, GenerationConfig generation,
            Map<Integer, Boolean> decided) {
        ModelConfig config = ModelConfig.load(dir);
        try (ModelSession session = SessionFactory.open(dir.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu());
                Tokenizer tokenizer = Tokenizer.load(dir, config)) {
            Generator generator = Generator.create(session, tokenizer, config);
            return generator.generateIds(ids, generation, ExtraInputs.NONE, new TokenListener() {
                @Override
                public void onToken(int row, long tokenId, String textPiece) {
                }

                @Override
                public void onCondition(int row, boolean met) {
                    decided.put(row, met);
                }
            });
        }
    }
}
