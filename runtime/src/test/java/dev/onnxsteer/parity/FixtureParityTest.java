package dev.onnxsteer.parity;

import static dev.onnxsteer.parity.ParityHarnessTest.assertAllPassed;
import static dev.onnxsteer.parity.ParityHarnessTest.check;
import static dev.onnxsteer.parity.ParityHarnessTest.compileAndCheck;
import static dev.onnxsteer.parity.ParityHarnessTest.randomVector;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.onnxsteer.TestModels;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** All parity checks on every fixture layout and on stories260K imported from GGUF. */
class FixtureParityTest {
    @TempDir
    Path temp;

    private static List<Steering> twoSites(ModelFiles source, SiteKind first, SiteKind second) {
        SiteMap sites = SiteFinder.find(ModelReader.read(source.onnx()));
        int last = sites.layerCount() - 1;
        return List.of(new Steering(first, 1, randomVector(sites.hiddenSize(), 11), 3f),
                new Steering(second, last, randomVector(sites.hiddenSize(), 12), -1.5f));
    }

    private static ModelFiles fixture(String name) {
        return ModelFiles.locate(TestPaths.testdata().resolve(name), null);
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"ADD", "INPUT"})
    void llamaWithCache(Mode mode) {
        ModelFiles source = fixture("llama-tiny");
        ParityReport report = compileAndCheck(source, twoSites(source, SiteKind.RESID_POST, SiteKind.MLP_OUT), mode,
                temp.resolve("out"));
        assertAllPassed(report, true);
        assertEquals(ParityCheck.Status.PASSED, check(report, "cache").status());
    }

    @Test
    void llamaWithoutCacheSkipsOnlyTheCacheCheck() {
        ModelFiles source = fixture("llama-tiny-nopast");
        ParityReport report = compileAndCheck(source, twoSites(source, SiteKind.RESID_PRE, SiteKind.ATTN_OUT), Mode.ADD,
                temp.resolve("out"));
        assertAllPassed(report, true);
        assertEquals(ParityCheck.Status.SKIPPED, check(report, "cache").status());
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"ADD", "INPUT", "BIAS"})
    void gpt2WithBiases(Mode mode) {
        ModelFiles source = fixture("gpt2-tiny");
        ParityReport report = compileAndCheck(source, twoSites(source, SiteKind.RESID_POST, SiteKind.RESID_MID), mode,
                temp.resolve("out"));
        assertAllPassed(report, true);
        assertEquals(ParityCheck.Status.PASSED, check(report, "cache").status());
        assertEquals(true, check(report, "modes").detail().contains("bias"), "bias mode is compared too");
    }

    /**
     * A merged decoder's sites lie inside its If branches, where the harness's cut cannot reach, so its own
     * independent check is skipped and its modes check only compares two rewrites. The independent path is
     * llama-tiny, the same weights unmerged: cut at each site, the vector added in Java between prefix and
     * suffix, its logits must match the steered merged model's full forward (the no_past branch); the
     * cache check holds the with_past branch to the same tokens.
     */
    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"ADD", "INPUT"})
    void mergedDecoderSteersBothBranches(Mode mode) {
        ModelFiles source = fixture("llama-merged");
        List<Steering> steerings = twoSites(source, SiteKind.RESID_POST, SiteKind.RESID_MID);
        ParityReport report = compileAndCheck(source, steerings, mode, temp.resolve("out"));
        assertAllPassed(report, false);
        assertEquals(ParityCheck.Status.SKIPPED, check(report, "independent").status());
        assertEquals(ParityCheck.Status.PASSED, check(report, "cache").status(), "the cached branch is steered too");

        ParityReport unmerged = new ParityHarness(fixture("llama-tiny"), temp.resolve("out").resolve(ModelFiles.MODEL_FILE),
                SessionConfig.cpu(), 6).run(ParityHarnessTest.PROMPTS);
        assertEquals(ParityCheck.Status.PASSED, check(unmerged, "independent").status(), unmerged.toString());
        assertEquals(true, check(unmerged, "effect").maxAbsDiff() > 1e-6, "the steering changes the merged model: "
                + check(unmerged, "effect"));
    }

    @ParameterizedTest
    @EnumSource(value = Mode.class, names = {"ADD", "INPUT"})
    void stories260KImportedFromGguf(Mode mode) {
        ModelFiles source = ModelFiles.locate(TestModels.stories260K(), null);
        ParityReport report = compileAndCheck(source, twoSites(source, SiteKind.RESID_POST, SiteKind.RESID_POST), mode,
                temp.resolve("out"));
        assertAllPassed(report, true);
        assertEquals(ParityCheck.Status.PASSED, check(report, "cache").status());
    }
}
