package dev.onnxsteer.capture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Capture from a model compiled with steering inputs, whose input defaults the runtime has to feed. */
class CompiledModelCaptureTest {
    @TempDir
    Path temp;

    @Test
    void inputModeModelsCaptureWithTheirDefaults() {
        ModelFiles original = ModelFiles.locate(TestPaths.testdata().resolve("llama-tiny"), null);
        float[] vector = new float[32];
        Arrays.fill(vector, 0.5f);
        Path compiled = temp.resolve("input-mode");
        Compilation.compileTo(original, List.of(new Steering(SiteKind.RESID_POST, 2, vector, 3f)), Mode.INPUT, compiled);
        List<long[]> prompts = List.of(new long[] {1, 72, 105, 33});
        float[][] before;
        float[][] steeredUpstream;
        float[][] steered;
        try (ActivationCapture plain = ActivationCapture.open(original, SiteKind.RESID_POST, List.of(1, 3), Padding.RIGHT,
                SessionConfig.cpu());
                ActivationCapture withInputs = ActivationCapture.open(ModelFiles.locate(compiled, null), SiteKind.RESID_POST,
                        List.of(1, 3), Padding.RIGHT, SessionConfig.cpu())) {
            PromptActivations a = plain.run(prompts, Position.LAST).get(0);
            PromptActivations b = withInputs.run(prompts, Position.LAST).get(0);
            before = new float[][] {a.at(0)[0], a.at(1)[0]};
            steeredUpstream = new float[][] {b.at(0)[0]};
            steered = new float[][] {b.at(1)[0]};
        }
        assertArrayEquals(before[0], steeredUpstream[0], "layer 1 is upstream of the steering: unchanged");
        assertFalse(Arrays.equals(before[1], steered[0]), "layer 3 sees the default vector times its coefficient added at resid_post.2");
    }
}
