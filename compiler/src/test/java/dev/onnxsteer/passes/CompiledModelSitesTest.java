package dev.onnxsteer.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A compiled model is still a model onnx-steer can inspect and compile again. */
class CompiledModelSitesTest {
    @TempDir
    Path temp;

    private static float[] ones() {
        float[] v = new float[32];
        Arrays.fill(v, 1f);
        return v;
    }

    @Test
    void discoveryWalksPastInsertedSteeringAndCompilesStack() {
        ModelFiles llama = ModelFiles.locate(TestPaths.testdata().resolve("llama-tiny"), null);
        Path first = temp.resolve("first");
        Compilation.compileTo(llama, List.of(new Steering(SiteKind.RESID_POST, 1, ones(), 2f)), Mode.ADD, first);
        Model compiled = ModelReader.read(first);
        SiteMap sites = SiteFinder.find(compiled);
        assertEquals(4, sites.layerCount(), "every layer is still found: " + sites.notes());
        assertEquals("/model/layers.1/Add_1_output_0", sites.find(SiteKind.RESID_POST, 1).get(0).value().name(),
                "the site is the unsteered tensor");
        assertTrue(sites.find(SiteKind.RESID_PRE, 2).get(0).value().producer().name().startsWith("/onnx_steer/"),
                "the next block reads the steered stream");

        Path second = temp.resolve("second");
        Compilation.compileTo(ModelFiles.locate(first, null),
                List.of(new Steering(SiteKind.RESID_POST, 3, ones(), -1f)), Mode.ADD, SteerOptions.of(SteerOp.ABLATE),
                second);
        Model stacked = ModelReader.read(second);
        assertEquals(2, Provenance.operations(stacked).size(), "compiling a compiled model appends to its record");
        assertEquals(4, SiteFinder.find(stacked).layerCount());
    }
}
