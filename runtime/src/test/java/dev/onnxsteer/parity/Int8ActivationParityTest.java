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
 * the float tolerances cannot hold (an ulp of difference between the steered graph and the Java reference
 * flips int8 roundings), so the checks add the int8 noise they measure on each side (see {@link Int8Activations});
 * a rewrite that is right passes, and one that steers by the wrong amount still fails.
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
        assertEquals(29, Int8Activations.nodes(ModelReader.read(source.onnx())));
        ParityReport report = compileAndCheck(source, steering(), Mode.ADD, temp.resolve("steered"));
        assertAllPassed(report, true);
        for (String name : List.of("independent", "modes")) {
            ParityCheck c = check(report, name);
            assertTrue(c.detail().contains("int8 activations (accuracy_level 4 on 29 MatMulNBits)"), c.detail());
        }
        assertEquals(0, check(report, "zero").maxAbsDiff(), "coefficient 0 is still bit-identical");
    }

    /** The graph adds 1.5 c*v where its metadata says c: the widened tolerance must not hide it. */
    @Test
    void aSteeringOfTheWrongSizeStillFails() {
        ModelFiles source = importQ4_0();
        Path compiled = temp.resolve("steered");
        Compilation.compileTo(source, steering(), Mode.ADD, compiled);
        Model model = ModelReader.read(compiled.resolve(ModelFiles.MODEL_FILE));
        scaleTheSteering(model.graph(), 1.5f);
        Path wrong = temp.resolve("wrong").resolve(ModelFiles.MODEL_FILE);
        ModelWriter.write(model, wrong);
        ParityReport report = new ParityHarness(source, wrong, SessionConfig.cpu(), 6).run(PROMPTS);
        ParityCheck independent = check(report, "independent");
        assertEquals(ParityCheck.Status.FAILED, independent.status(), independent.toString());
        assertEquals(ParityCheck.Status.FAILED, check(report, "modes").status(), report.toString());
    }

    private static void scaleTheSteering(Graph graph, float factor) {
        Node add = graph.nodes().stream().filter(n -> n.name().equals("/onnx_steer/attn_out.1/Add")).findFirst().orElseThrow();
        Value scale = graph.addInitializer("wrong.scale", Tensor.scalar(factor));
        Value scaled = graph.op("Mul").inputs(add.input(1), scale).outputs("wrong.scaled").value();
        add.setInput(1, scaled);
        graph.sortTopologically();
    }
}
