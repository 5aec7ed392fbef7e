package dev.onnxsteer.capture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteKind;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Activation capture (extract, sweep) on the onnxruntime-genai builder fixture: the same activations as the
 * standard-op graph of the same weights, and left padding, which GroupQueryAttention would read as tokens, refused.
 */
class GenaiCaptureTest {
    private static final List<long[]> PROMPTS = List.of(new long[] {1, 17, 200, 42}, new long[] {1, 99},
            new long[] {1, 7, 3, 3, 120, 4, 20});
    /** Not layer 3: the builder's final SkipSimplifiedLayerNormalization keeps resid_post.3 to itself. */
    private static final List<Integer> LAYERS = List.of(0, 1, 2);

    private static ModelFiles fixture(String name) {
        return ModelFiles.locate(TestPaths.testdata().resolve(name), null);
    }

    @Test
    void builderGraphGivesTheStandardOpGraphsActivationsAtEveryPosition() {
        for (SiteKind kind : new SiteKind[] {SiteKind.RESID_POST, SiteKind.ATTN_OUT}) {
            List<PromptActivations> expected;
            List<PromptActivations> actual;
            try (ActivationCapture standard = ActivationCapture.open(fixture("llama-tiny"), kind, LAYERS, Padding.RIGHT,
                    SessionConfig.cpu());
                    ActivationCapture builder = ActivationCapture.open(fixture("llama-tiny-genai"), kind, LAYERS,
                            Padding.RIGHT, SessionConfig.cpu())) {
                expected = standard.run(PROMPTS, Position.ALL);
                actual = builder.run(PROMPTS, Position.ALL);
            }
            double worst = 0;
            for (int p = 0; p < PROMPTS.size(); p++) {
                assertEquals(PROMPTS.get(p).length, actual.get(p).tokens());
                for (int layer = 0; layer < LAYERS.size(); layer++) {
                    float[][] e = expected.get(p).at(layer);
                    float[][] a = actual.get(p).at(layer);
                    assertEquals(e.length, a.length);
                    for (int t = 0; t < e.length; t++) {
                        for (int i = 0; i < e[t].length; i++) {
                            worst = Math.max(worst, Math.abs(e[t][i] - a[t][i]));
                        }
                    }
                }
            }
            assertTrue(worst < 1e-4, kind.label() + ": builder vs standard-op activations differ by " + worst);
        }
    }

    @Test
    void leftPaddingIsRefusedForGroupQueryAttention() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ActivationCapture.open(
                fixture("llama-tiny-genai"), SiteKind.RESID_POST, LAYERS, Padding.LEFT, SessionConfig.cpu()));
        assertTrue(e.getMessage().contains("use right padding"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
    }
}
