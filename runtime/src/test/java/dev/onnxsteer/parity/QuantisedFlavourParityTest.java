package dev.onnxsteer.parity;

import static dev.onnxsteer.parity.ParityHarnessTest.PROMPTS;
import static dev.onnxsteer.parity.ParityHarnessTest.assertAllPassed;
import static dev.onnxsteer.parity.ParityHarnessTest.check;
import static dev.onnxsteer.parity.ParityHarnessTest.compileAndCheck;
import static dev.onnxsteer.parity.ParityHarnessTest.randomVector;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** parity on the quantised flavours whose arithmetic is not exact: dynamic int8 (MatMulInteger) and q4f16. */
class QuantisedFlavourParityTest {
    private static final String INT8 = "llama-tiny-int8";
    private static final String Q4F16 = "llama-tiny-genai-q4f16";

    @TempDir
    Path temp;

    private static ModelFiles fixture(String name) {
        return ModelFiles.locate(TestPaths.testdata().resolve(name), null);
    }

    private static List<Steering> attnOut(ModelFiles source) {
        long hidden = SiteFinder.find(ModelReader.read(source.onnx())).hiddenSize();
        return List.of(new Steering(SiteKind.ATTN_OUT, 1, randomVector(hidden, 21), 2f));
    }

    @Test
    void dynamicInt8PassesWithTheOriginalsOwnCacheDriftAsTolerance() {
        ModelFiles source = fixture(INT8);
        ParityReport report = compileAndCheck(source, attnOut(source), Mode.ADD, temp.resolve("int8"));
        assertAllPassed(report, true);
        ParityCheck cache = check(report, "cache");
        assertEquals(ParityCheck.Status.PASSED, cache.status(), cache.toString());
        assertTrue(cache.tolerance() > 0, "the original int8 model drifts itself: " + cache);
        assertTrue(cache.detail().contains("DynamicQuantizeLinear"), cache.detail());
    }

    /** A steering that scales with the run's sequence length: a cached step adds v, a full recompute n*v. */
    @Test
    void dynamicInt8SteeringThatDependsOnTheCacheStillFails() {
        ModelFiles source = fixture(INT8);
        Path compiled = temp.resolve("int8");
        compileAndCheck(source, attnOut(source), Mode.ADD, compiled);
        Model model = ModelReader.read(compiled.resolve(ModelFiles.MODEL_FILE));
        Graph graph = model.graph();
        Node add = graph.nodes().stream().filter(n -> n.name().equals("/onnx_steer/attn_out.1/Add")).findFirst().orElseThrow();
        Value ids = graph.inputs().stream().filter(v -> v.name().equals("input_ids")).findFirst().orElseThrow();
        Value shape = graph.op("Shape").inputs(ids).outputs("wrong.shape").value();
        Value index = graph.addInitializer("wrong.index", Tensor.scalar(1L));
        Value length = graph.op("Gather").inputs(shape, index).outputs("wrong.length").value();
        Value lengthFloat = graph.op("Cast").inputs(length).attr("to", 1L).outputs("wrong.length_float").value();
        Value scaled = graph.op("Mul").inputs(add.input(1), lengthFloat).outputs("wrong.scaled").value();
        add.setInput(1, scaled);
        graph.sortTopologically();
        Path wrong = temp.resolve("wrong").resolve(ModelFiles.MODEL_FILE);
        ModelWriter.write(model, wrong);

        ParityReport report = new ParityHarness(source, wrong, SessionConfig.cpu(), 6).run(PROMPTS);
        ParityCheck cache = check(report, "cache");
        assertEquals(ParityCheck.Status.FAILED, cache.status(), cache.toString());
        assertTrue(cache.maxAbsDiff() > 10 * cache.tolerance(), cache.toString());
    }

    @Test
    void q4f16FoldedIntoAFloat16BiasPassesWithinOneUlpAtTheSite() {
        ModelFiles source = fixture(Q4F16);
        ParityReport report = compileAndCheck(source, attnOut(source), Mode.BIAS, temp.resolve("q4f16"));
        assertAllPassed(report, true);
        ParityCheck independent = check(report, "independent");
        assertTrue(independent.maxAbsDiff() > 0, "the fold rounds the site differently from Java: " + independent);
        assertTrue(independent.detail().contains("float16 ulp at the cut"), independent.detail());
    }

    /** The folded bias carries 1.1 c*v while the metadata says c: each check that recomputes c*v must see it. */
    @Test
    void q4f16WithAWrongFoldedBiasStillFails() {
        ModelFiles source = fixture(Q4F16);
        Path compiled = temp.resolve("q4f16");
        compileAndCheck(source, attnOut(source), Mode.BIAS, compiled);
        Model model = ModelReader.read(compiled.resolve(ModelFiles.MODEL_FILE));
        Value bias = model.graph().initializers().stream()
                .filter(v -> v.name().equals("model.layers.1.self_attn.o_proj.MatMul.bias")).findFirst().orElseThrow();
        float[] values = bias.initializer().toFloats();
        for (int i = 0; i < values.length; i++) {
            values[i] *= 1.1f;
        }
        bias.setInitializer(Tensor.ofFloats(bias.initializer().type(), bias.initializer().dims(), values));
        Path wrong = temp.resolve("wrong").resolve(ModelFiles.MODEL_FILE);
        ModelWriter.write(model, wrong);

        ParityReport report = new ParityHarness(source, wrong, SessionConfig.cpu(), 6).run(PROMPTS);
        ParityCheck independent = check(report, "independent");
        assertEquals(ParityCheck.Status.FAILED, independent.status(), independent.toString());
        assertEquals(ParityCheck.Status.FAILED, check(report, "modes").status(), report.toString());
    }
}
