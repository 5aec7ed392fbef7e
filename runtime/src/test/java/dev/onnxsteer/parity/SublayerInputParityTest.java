package dev.onnxsteer.parity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestModels;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bias editing at the sublayer inputs passes every parity check: coefficient 0 is bit-identical,
 * the original cut at attn_in/mlp_in with c*v added in Java between prefix and suffix matches, and
 * the bias, add and input compilations agree within 1e-5.
 */
class SublayerInputParityTest {
    static final List<long[]> PROMPTS = List.of(new long[] {72, 105, 32, 116, 104}, new long[] {1, 200, 3});

    @TempDir
    Path temp;

    static ParityReport check(ModelFiles source, List<Steering> steerings, Mode mode, boolean createBias, Path out) {
        Compilation.compileTo(source, sites -> steerings, mode, SteerOptions.ADD.withCreateBias(createBias), out);
        return new ParityHarness(source, out.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu(), 4).run(PROMPTS);
    }

    static void assertPassed(ParityReport report, boolean biasCompared) {
        for (ParityCheck c : report.checks()) {
            assertTrue(c.status() != ParityCheck.Status.FAILED, c.toString());
        }
        assertEquals(0.0, ParityHarnessTest.check(report, "zero").maxAbsDiff(), "coefficient 0 is bit-identical");
        assertEquals(ParityCheck.Status.PASSED, ParityHarnessTest.check(report, "independent").status());
        ParityCheck modes = ParityHarnessTest.check(report, "modes");
        assertEquals(ParityCheck.Status.PASSED, modes.status());
        assertEquals(biasCompared, modes.detail().contains(", bias]"), modes.detail());
    }

    @Test
    void gpt2FixtureBiasAtAttnInAndMlpIn() {
        ModelFiles source = ModelFiles.locate(Fixtures.dir(Fixtures.GPT2_TINY), null);
        List<Steering> steerings = List.of(
                new Steering(SiteKind.ATTN_IN, 1, ParityHarnessTest.randomVector(Fixtures.GPT2_HIDDEN, 3), 3f),
                new Steering(SiteKind.MLP_IN, 2, ParityHarnessTest.randomVector(Fixtures.GPT2_HIDDEN, 4), -2f));
        assertPassed(check(source, steerings, Mode.BIAS, false, temp.resolve("gpt2")), true);
    }

    @Test
    void fusedGpt2BiasAtAttnIn() {
        ModelFiles source = ModelFiles.locate(TestModels.fusedGpt2(), null);
        List<Steering> steerings = List.of(
                new Steering(SiteKind.ATTN_IN, 2, ParityHarnessTest.randomVector(32, 5), 4f));
        ParityReport report = check(source, steerings, Mode.BIAS, false, temp.resolve("fused"));
        assertPassed(report, true);
    }

    @Test
    void llamaFixtureCreatedBiasesAtAttnIn() {
        ModelFiles source = ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY), null);
        List<Steering> steerings = List.of(
                new Steering(SiteKind.ATTN_IN, 2, ParityHarnessTest.randomVector(Fixtures.LLAMA_HIDDEN, 6), 3f));
        // the created biases make a bias compilation possible again, so the modes check compares it too
        assertPassed(check(source, steerings, Mode.BIAS, true, temp.resolve("llama")), true);
    }

    @Test
    void stories260KAddAtMlpIn() {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        ModelFiles source = ModelFiles.locate(GgufImporter.importModel(gguf, temp.resolve("stories")).directory(), null);
        long hidden = SiteFinder.find(ModelReader.read(source.onnx())).hiddenSize();
        List<Steering> steerings = List.of(
                new Steering(SiteKind.MLP_IN, 3, ParityHarnessTest.randomVector(hidden, 7), 2f));
        assertPassed(check(source, steerings, Mode.ADD, false, temp.resolve("stories-steered")), false);
    }
}
