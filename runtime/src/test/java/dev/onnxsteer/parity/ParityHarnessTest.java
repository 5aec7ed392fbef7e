package dev.onnxsteer.parity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestModels;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ParityHarnessTest {
    @TempDir
    Path temp;

    static final List<long[]> PROMPTS = List.of(new long[] {1, 17, 200, 42}, new long[] {1, 99, 2, 250}, new long[] {7});

    static float[] randomVector(long size, long seed) {
        Random random = new Random(seed);
        float[] v = new float[(int) size];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    static ParityReport compileAndCheck(ModelFiles source, List<Steering> steerings, Mode mode, Path out) {
        Compilation.compileTo(source, steerings, mode, out);
        return new ParityHarness(source, out.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu(), 6).run(PROMPTS);
    }

    static void assertAllPassed(ParityReport report, boolean expectIndependent) {
        for (ParityCheck check : report.checks()) {
            assertTrue(check.status() != ParityCheck.Status.FAILED, check.toString());
        }
        assertEquals(ParityCheck.Status.PASSED, check(report, "zero").status());
        assertEquals(0.0, check(report, "zero").maxAbsDiff(), "coefficient 0 is bit-identical");
        assertEquals(ParityCheck.Status.PASSED, check(report, "modes").status());
        if (expectIndependent) {
            assertEquals(ParityCheck.Status.PASSED, check(report, "independent").status());
        }
        assertTrue(check(report, "effect").maxAbsDiff() > 1e-4, "a non-zero vector changes the next-token distribution: "
                + check(report, "effect"));
    }

    static ParityCheck check(ParityReport report, String name) {
        return report.checks().stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"ADD", "INPUT", "AUTO"})
    void fusedGpt2SteeredAtTwoSitesPassesEveryCheck(Mode mode) {
        ModelFiles source = ModelFiles.locate(TestModels.fusedGpt2(), null);
        SiteMap sites = SiteFinder.find(ModelReader.read(source.onnx()));
        List<Steering> steerings = List.of(
                new Steering(SiteKind.RESID_POST, 1, randomVector(sites.hiddenSize(), 1), 4f),
                new Steering(SiteKind.RESID_MID, 3, randomVector(sites.hiddenSize(), 2), -2f));
        ParityReport report = compileAndCheck(source, steerings, mode, temp.resolve("steered"));
        assertAllPassed(report, true);
        assertEquals(ParityCheck.Status.PASSED, check(report, "cache").status());
    }
}
