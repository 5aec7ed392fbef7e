package dev.onnxsteer.steer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.parity.Forward;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.session.Tensors;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Input-mode ablate and clamp take the direction from the fed vector, so a row fed zeros (what an
 * unsteered row of a mixed batch gets) has no direction: it must leave the model exactly as it was
 * (not 0/0 = NaN), and a row fed a real vector must still equal the constant {@code compile --op}.
 */
class ZeroRowInputModeTest {
    @TempDir
    Path temp;

    static final long[] PROMPT = {5, 17, 30, 42, 7, 9};
    static final String INPUT = "steer.resid_post.1.vector";

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"llama-tiny, ablate, 1", "llama-tiny, clamp, 2.5", "gpt2-tiny, ablate, 1", "gpt2-tiny, clamp, -3",
            "llama-tiny-skipnorm, ablate, 1"})
    void zeroRowIsTheOriginalAndARealRowIsTheConstantCompile(String fixture, String opLabel, float coefficient) {
        ModelFiles source = ModelFiles.locate(TestPaths.testdata().resolve(fixture), null);
        long hidden = SiteFinder.find(ModelReader.read(source.onnx())).hiddenSize();
        SteerOptions options = SteerOptions.of(SteerOp.parse(opLabel));
        float[] vector = OperationsTest.randomVector(hidden, 5);
        List<Steering> steering = List.of(new Steering(SiteKind.RESID_POST, 1, vector, coefficient));
        Path input = temp.resolve("input");
        Path constant = temp.resolve("constant");
        Compilation.compileTo(source, steering, Mode.INPUT, options, input);
        Compilation.compileTo(source, steering, Mode.ADD, options, constant);

        float[] original = logits(source.onnx(), Map.of());
        float[] compiled = logits(constant.resolve(ModelFiles.MODEL_FILE), Map.of());
        try (OnnxTensor zero = Tensors.floats(new float[(int) hidden], 1, hidden);
                OnnxTensor real = Tensors.floats(vector, 1, hidden)) {
            Path model = input.resolve(ModelFiles.MODEL_FILE);
            assertArrayEquals(original, logits(model, Map.of(INPUT, zero)), "a zero row is the original, bit for bit");
            float[] steered = logits(model, Map.of(INPUT, real));
            double diff = 0;
            double effect = 0;
            for (int i = 0; i < steered.length; i++) {
                diff = Math.max(diff, Math.abs((double) steered[i] - compiled[i]));
                effect = Math.max(effect, Math.abs((double) steered[i] - original[i]));
            }
            assertTrue(diff < 1e-4, "a fed vector equals compile --op " + opLabel + ": max |diff| " + diff);
            assertTrue(effect > 1e-3, "the fed vector steers: max |change| " + effect);
        }
    }

    private static float[] logits(Path model, Map<String, OnnxTensor> feeds) {
        try (ModelSession session = SessionFactory.open(model, SessionConfig.cpu())) {
            return Forward.run(session, PROMPT, feeds, List.of("logits")).get("logits").values();
        }
    }
}
