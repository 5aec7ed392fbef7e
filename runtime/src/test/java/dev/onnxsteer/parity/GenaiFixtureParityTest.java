package dev.onnxsteer.parity;

import static dev.onnxsteer.parity.ParityHarnessTest.assertAllPassed;
import static dev.onnxsteer.parity.ParityHarnessTest.check;
import static dev.onnxsteer.parity.ParityHarnessTest.compileAndCheck;
import static dev.onnxsteer.parity.ParityHarnessTest.randomVector;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every parity check on the onnxruntime-genai builder fixtures (GroupQueryAttention, no position_ids). */
class GenaiFixtureParityTest {
    @TempDir
    Path temp;

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny-genai", "llama-hs16-genai"})
    void builderGraphsPassEveryCheck(String name) {
        ModelFiles source = ModelFiles.locate(TestPaths.testdata().resolve(name), null);
        SiteMap sites = SiteFinder.find(ModelReader.read(source.onnx()));
        List<Steering> steerings = List.of(new Steering(SiteKind.RESID_POST, 1, randomVector(sites.hiddenSize(), 11), 3f),
                new Steering(SiteKind.MLP_OUT, sites.layerCount() - 1, randomVector(sites.hiddenSize(), 12), -1.5f));
        ParityReport report = compileAndCheck(source, steerings, Mode.ADD, temp.resolve("out"));
        assertAllPassed(report, true);
        assertEquals(ParityCheck.Status.PASSED, check(report, "cache").status());
    }
}
