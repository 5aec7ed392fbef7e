package dev.onnxsteer.steer;

import dev.onnxsteer.io.CompiledModelAbi;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.parity.ParityCheck;
import dev.onnxsteer.parity.ParityHarness;
import dev.onnxsteer.parity.ParityReport;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every operation and position mode, compiled into the llama and GPT-2 fixture layouts and the real
 * stories260K imported in both layouts (the genai one right-pads batches), passes the parity harness: the independent prefix/suffix computation (the operation
 * applied in Java at the steered positions; for orthogonalize, ablation of every residual write),
 * the agreement of add and input compilations (orthogonalize: with an in-graph ablation of every
 * write), and KV-cached generation equal to full recompute.
 */
class OperationsTest {
    @TempDir
    static Path shared;

    @TempDir
    Path temp;

    static final List<long[]> PROMPTS = List.of(new long[] {5, 17, 30, 42, 7, 9}, new long[] {99, 1, 2}, new long[] {7});

    private static final Map<String, Path> imported = new HashMap<>();

    /** A testdata fixture, or stories260K imported in a layout: {@code stories260K} (onnx) or {@code stories260K-genai}. */
    static synchronized ModelFiles model(String name) {
        if (name.startsWith("stories260K")) {
            ImportFormat format = name.endsWith("-genai") ? ImportFormat.GENAI : ImportFormat.ONNX;
            Path dir = imported.computeIfAbsent(name, n -> {
                Path out = shared.resolve(n);
                GgufImporter.importModel(TestPaths.sharedModel("stories260K/stories260K.gguf"), out, WeightFormat.KEEP, format);
                return out;
            });
            return ModelFiles.locate(dir, null);
        }
        return ModelFiles.locate(TestPaths.testdata().resolve(name), null);
    }

    static float[] randomVector(long size, long seed) {
        Random random = new Random(seed);
        float[] v = new float[(int) size];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    /** A compile case: operation options, mode and coefficient; steers resid_post.1 and resid_mid.2. */
    record Case(String label, SteerOptions options, Mode mode, float coefficient) {
        @Override
        public String toString() {
            return label;
        }
    }

    static List<Case> cases() {
        SteerOptions add = SteerOptions.ADD;
        return List.of(
                new Case("ablate", SteerOptions.of(SteerOp.ABLATE), Mode.ADD, 1f),
                new Case("ablate input", SteerOptions.of(SteerOp.ABLATE), Mode.INPUT, 1f),
                new Case("ablate-add", SteerOptions.of(SteerOp.ABLATE_ADD), Mode.ADD, 3f),
                new Case("clamp", SteerOptions.of(SteerOp.CLAMP), Mode.ADD, 2.5f),
                new Case("add preserve-norm", add.withPreserveNorm(true), Mode.ADD, 4f),
                new Case("add prompt", add.withPositions(Positions.parse("prompt")), Mode.ADD, 4f),
                new Case("add generated", add.withPositions(Positions.parse("generated")), Mode.ADD, 4f),
                new Case("add first:2", add.withPositions(Positions.first(2)), Mode.ADD, 4f),
                new Case("add from:3 input", add.withPositions(Positions.from(3)), Mode.INPUT, 4f),
                new Case("clamp first:3 preserve-norm", SteerOptions.of(SteerOp.CLAMP).withPositions(Positions.first(3))
                        .withPreserveNorm(true), Mode.ADD, -2f),
                new Case("bank", add.withBank(true), Mode.INPUT, 4f),
                new Case("orthogonalize", SteerOptions.of(SteerOp.ORTHOGONALIZE), Mode.ADD, 1f));
    }

    static Stream<Arguments> everyCaseOnEveryModel() {
        List<Arguments> args = new ArrayList<>();
        for (String model : List.of("llama-tiny", "llama-tiny-skipnorm", "gpt2-tiny", "stories260K", "stories260K-genai")) {
            for (Case c : cases()) {
                args.add(Arguments.of(model, c));
            }
        }
        return args.stream();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("everyCaseOnEveryModel")
    void operationPassesParity(String modelName, Case c) {
        ModelFiles source = model(modelName);
        SiteMap sites = SiteFinder.find(ModelReader.read(source.onnx()));
        long hidden = sites.hiddenSize();
        List<Steering> steerings = c.options().op() == SteerOp.ORTHOGONALIZE
                ? List.of(new Steering(SiteKind.RESID_POST, 1, randomVector(hidden, 11), 1f))
                : List.of(new Steering(SiteKind.RESID_POST, 1, randomVector(hidden, 1), c.coefficient()),
                        new Steering(SiteKind.RESID_MID, 2, randomVector(hidden, 2), c.coefficient()));
        Path out = temp.resolve("steered");
        Compilation.compileTo(source, steerings, c.mode(), c.options(), out);
        ParityReport report = new ParityHarness(source, out.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu(), 6)
                .run(PROMPTS);
        for (ParityCheck check : report.checks()) {
            assertNotEquals(ParityCheck.Status.FAILED, check.status(), check.toString());
        }
        assertEquals(ParityCheck.Status.PASSED, check(report, "independent").status(), report.toString());
        assertEquals(ParityCheck.Status.PASSED, check(report, "cache").status(), report.toString());
        String second = c.options().op() == SteerOp.ORTHOGONALIZE ? "ablate-equivalent" : "modes";
        assertEquals(ParityCheck.Status.PASSED, check(report, second).status(), report.toString());
        if (c.options().op() == SteerOp.ADD) {
            assertEquals(0.0, check(report, "zero").maxAbsDiff(), "coefficient 0 is bit-identical: " + report);
        }
        assertTrue(check(report, "effect").maxAbsDiff() > 1e-6, "the operation changes the next token distribution: "
                + check(report, "effect"));
        String recorded = ModelReader.read(out.resolve(ModelFiles.MODEL_FILE)).metadata().get(CompiledModelAbi.METADATA_PREFIX + "ops");
        assertEquals(c.options().op().label(), recorded);
    }

    /** Merged decoders (sites inside both If branches) and ORT-fused graphs (SkipLayerNormalization sums). */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"llama-merged", "fused-gpt2"})
    void ablateWithPositionsOnMergedAndFusedGraphs(String name) {
        ModelFiles source = name.equals("fused-gpt2") ? ModelFiles.locate(dev.onnxsteer.TestModels.fusedGpt2(), null)
                : model(name);
        long hidden = SiteFinder.find(ModelReader.read(source.onnx())).hiddenSize();
        Path out = temp.resolve("steered");
        Compilation.compileTo(source, List.of(new Steering(SiteKind.RESID_POST, 1, randomVector(hidden, 5), 3f)),
                Mode.ADD, SteerOptions.of(SteerOp.ABLATE_ADD).withPositions(Positions.from(2)), out);
        List<long[]> prompts = List.of(new long[] {5, 17, 30, 42}, new long[] {99, 1, 2});
        ParityReport report = new ParityHarness(source, out.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu(), 5)
                .run(prompts);
        for (ParityCheck check : report.checks()) {
            assertNotEquals(ParityCheck.Status.FAILED, check.status(), check.toString());
        }
        assertEquals(ParityCheck.Status.PASSED, check(report, "modes").status(), report.toString());
        assertEquals(ParityCheck.Status.PASSED, check(report, "cache").status(), report.toString());
        if (name.equals("fused-gpt2")) {
            assertEquals(ParityCheck.Status.PASSED, check(report, "independent").status(), report.toString());
        } else {
            // the merged decoder's sites lie in If branches the cut cannot reach; llama-tiny has the same weights
            // unmerged, so it is the independent path: cut at resid_post.1, ablate-add from position 2 in Java
            ParityReport unmerged = new ParityHarness(model("llama-tiny"), out.resolve(ModelFiles.MODEL_FILE),
                    SessionConfig.cpu(), 5).run(prompts);
            assertEquals(ParityCheck.Status.PASSED, check(unmerged, "independent").status(), unmerged.toString());
        }
    }

    /** The sublayer inputs (attn_in, mlp_in), which only the sublayer reads, take every operation too. */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"llama-tiny", "gpt2-tiny"})
    void operationsAtSublayerInputs(String name) {
        ModelFiles source = model(name);
        long hidden = SiteFinder.find(ModelReader.read(source.onnx())).hiddenSize();
        Path out = temp.resolve("steered");
        Compilation.compileTo(source, List.of(new Steering(SiteKind.ATTN_IN, 1, randomVector(hidden, 7), 3f),
                new Steering(SiteKind.MLP_IN, 2, randomVector(hidden, 8), 3f)), Mode.ADD,
                SteerOptions.of(SteerOp.ABLATE_ADD).withPositions(Positions.from(2)).withPreserveNorm(true), out);
        ParityReport report = new ParityHarness(source, out.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu(), 5)
                .run(PROMPTS);
        for (String passed : List.of("independent", "modes", "cache")) {
            assertEquals(ParityCheck.Status.PASSED, check(report, passed).status(), report.toString());
        }
        assertTrue(check(report, "effect").maxAbsDiff() > 1e-6, check(report, "effect").toString());
    }

    static ParityCheck check(ParityReport report, String name) {
        return report.checks().stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow();
    }
}
