package dev.onnxsteer.parity;

import static dev.onnxsteer.parity.ParityHarnessTest.PROMPTS;
import static dev.onnxsteer.parity.ParityHarnessTest.assertAllPassed;
import static dev.onnxsteer.parity.ParityHarnessTest.check;
import static dev.onnxsteer.parity.ParityHarnessTest.compileAndCheck;
import static dev.onnxsteer.parity.ParityHarnessTest.randomVector;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * parity on a GGUF import whose MatMulNBits quantise activations to int8 ({@code import --int8-activations}):
 * the float tolerances cannot hold on the shipped graphs (an ulp of difference between the steered graph and the
 * Java reference flips int8 roundings), so the checks prove the rewrite on the accuracy_level 0 twins within the
 * float tolerance and bound the shipped graphs by it plus the measured int8 noise (see {@link Int8Activations});
 * a rewrite that is right passes, and one wrong by less than the int8 noise but more than float rounding fails.
 */
class Int8ActivationParityTest {
    @TempDir
    Path temp;

    private ModelFiles importQ4_0() {
        Path gguf = TestPaths.sharedModel("tiny-llama-quants/tiny-llama-Q4_0.gguf");
        Path dir = temp.resolve("q4_0-int8");
        GgufImporter.importModel(gguf, OutputTarget.refuseExisting(dir), GgufImporter.Options.DEFAULT.withInt8Activations());
        return ModelFiles.locate(dir, null);
    }

    private static List<Steering> steering() {
        return List.of(new Steering(SiteKind.ATTN_OUT, 1, randomVector(256, 21), 2f));
    }

    @Test
    void steeredImportPassesWithTheMeasuredInt8NoiseInTheTolerance() {
        ModelFiles source = importQ4_0();
        // the default (genai) layout: per layer packed q|k|v, o, gate, up, down; and lm_head
        assertEquals(4 * 5 + 1, Int8Activations.nodes(ModelReader.read(source.onnx())));
        ParityReport report = compileAndCheck(source, steering(), Mode.ADD, temp.resolve("steered"));
        assertAllPassed(report, true);
        for (String name : List.of("independent", "modes")) {
            ParityCheck c = check(report, name);
            assertTrue(c.detail().contains("int8 activations (accuracy_level 4 on 21 MatMulNBits): proved on the "
                    + "accuracy_level 0 twins"), c.detail());
            assertTrue(c.tolerance() < 0.01, "the columns hold the float tolerance of the twins: " + c);
        }
        assertEquals(0, check(report, "zero").maxAbsDiff(), "coefficient 0 is still bit-identical");
    }

    /** The graph adds 1.5 c*v where its metadata says c: far outside even the shipped graphs' bound. */
    @Test
    void aSteeringOfTheWrongSizeStillFails() {
        ParityReport report = parityOfSteeringScaledBy(1.5f);
        ParityCheck independent = check(report, "independent");
        assertEquals(ParityCheck.Status.FAILED, independent.status(), independent.toString());
        assertEquals(ParityCheck.Status.FAILED, check(report, "modes").status(), report.toString());
    }

    /**
     * The graph adds 1.01 c*v: the shipped graphs stay within float tolerance + int8 noise (the old check passed
     * it), but the twins differ by more than float rounding, so the rewrite is not proved.
     */
    @Test
    void aSteeringWrongByLessThanTheInt8NoiseFailsOnTheTwins() {
        ParityReport report = parityOfSteeringScaledBy(1.01f);
        for (String name : List.of("independent", "modes")) {
            ParityCheck c = check(report, name);
            assertEquals(ParityCheck.Status.FAILED, c.status(), c.toString());
            assertTrue(c.maxAbsDiff() > c.tolerance(), "the twins differ by more than the float tolerance: " + c);
            assertTrue(c.detail().matches(".*shipped graphs differ by [^,]+, within .*"),
                    "the shipped graphs alone would pass: " + c.detail());
        }
    }

    private ParityReport parityOfSteeringScaledBy(float factor) {
        ModelFiles source = importQ4_0();
        Path compiled = temp.resolve("steered");
        Compilation.compileTo(source, steering(), Mode.ADD, compiled);
        Model model = ModelReader.read(compiled.resolve(ModelFiles.MODEL_FILE));
        scaleTheSteering(model.graph(), factor);
        Path wrong = temp.resolve("wrong").resolve(ModelFiles.MODEL_FILE);
        ModelWriter.write(model, wrong);
        return new ParityHarness(source, wrong, SessionConfig.cpu(), 6).run(PROMPTS);
    }

    private static void scaleTheSteering(Graph graph, float factor) {
        Node add = graph.nodes().stream().filter(n -> n.name().equals("/onnx_steer/attn_out.1/Add")).findFirst().orElseThrow();
        Value scale = graph.addInitializer("wrong.scale", Tensor.scalar(factor));
        Value scaled = graph.op("Mul").inputs(add.input(1), scale).outputs("wrong.scaled").value();
        add.setInput(1, scaled);
        graph.sortTopologically();
    }
}
