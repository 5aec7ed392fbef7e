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
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** parity on the quantised flavours whose arithmetic is not exact (dynamic int8, q4f16) and their bias modes. */
class QuantisedFlavourParityTest {
    private static final String INT8 = "llama-tiny-int8";
    private static final String Q4F16 = "llama-tiny-genai-q4f16";
    private static final String INT4 = "llama-tiny-genai-int4";

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
        ParityCheck cache = passedCheck(INT8, Mode.ADD, "cache");
        assertEquals(ParityCheck.Status.PASSED, cache.status(), cache.toString());
        assertTrue(cache.tolerance() > 0, "the original int8 model drifts itself: " + cache);
        assertTrue(cache.detail().contains("DynamicQuantizeLinear"), cache.detail());
    }

    /** Compiles {@code fixture} at attn_out.1 in {@code mode}, asserts every check passed, returns check {@code name}. */
    private ParityCheck passedCheck(String fixture, Mode mode, String name) {
        ModelFiles source = fixture(fixture);
        ParityReport report = compileAndCheck(source, attnOut(source), mode, temp.resolve("compiled"));
        assertAllPassed(report, true);
        return check(report, name);
    }

    /** parity of {@code source} compiled at attn_out.1 in {@code mode} and then changed by {@code damage}. */
    private ParityReport parityOfDamaged(ModelFiles source, Mode mode, Consumer<Model> damage) {
        Path compiled = temp.resolve("compiled");
        Compilation.compileTo(source, attnOut(source), mode, compiled);
        Model model = ModelReader.read(compiled.resolve(ModelFiles.MODEL_FILE));
        damage.accept(model);
        Path wrong = temp.resolve("wrong").resolve(ModelFiles.MODEL_FILE);
        ModelWriter.write(model, wrong);
        return new ParityHarness(source, wrong, SessionConfig.cpu(), 6).run(PROMPTS);
    }

    /** A steering that scales with the run's sequence length: a cached step adds v, a full recompute n*v. */
    @Test
    void dynamicInt8SteeringThatDependsOnTheCacheStillFails() {
        ParityReport report = parityOfDamaged(fixture(INT8), Mode.ADD, model -> scaleSteeringBySequenceLength(model.graph()));
        ParityCheck cache = check(report, "cache");
        assertEquals(ParityCheck.Status.FAILED, cache.status(), cache.toString());
        assertTrue(cache.maxAbsDiff() > 5 * cache.tolerance(), cache.toString());
    }

    private static void scaleSteeringBySequenceLength(Graph graph) {
        Node add = graph.nodes().stream().filter(n -> n.name().equals("/onnx_steer/attn_out.1/Add")).findFirst().orElseThrow();
        Value ids = graph.inputs().stream().filter(v -> v.name().equals("input_ids")).findFirst().orElseThrow();
        Value shape = graph.op("Shape").inputs(ids).outputs("wrong.shape").value();
        Value index = graph.addInitializer("wrong.index", Tensor.scalar(1L));
        Value length = graph.op("Gather").inputs(shape, index).outputs("wrong.length").value();
        Value lengthFloat = graph.op("Cast").inputs(length).attr("to", 1L).outputs("wrong.length_float").value();
        Value scaled = graph.op("Mul").inputs(add.input(1), lengthFloat).outputs("wrong.scaled").value();
        add.setInput(1, scaled);
        graph.sortTopologically();
    }

    /** A bias-less MatMulNBits at the site is given a bias by a bias compilation, so the modes check makes one. */
    @Test
    void int4ModesCheckCompilesBiasModeIntoTheMatMulNBitsBiasInput() {
        ParityCheck modes = passedCheck(INT4, Mode.ADD, "modes");
        assertTrue(modes.detail().startsWith("pairwise [file, add, input, bias]"), modes.detail());
    }

    @Test
    void q4f16FoldedIntoAFloat16BiasPassesWithinOneUlpAtTheSite() {
        ParityCheck independent = passedCheck(Q4F16, Mode.BIAS, "independent");
        assertTrue(independent.maxAbsDiff() > 0, "the fold rounds the site differently from Java: " + independent);
        assertTrue(independent.detail().contains("float16 ulp at the cut"), independent.detail());
    }

    /** The folded bias carries 1.1 c*v while the metadata says c: each check that recomputes c*v must see it. */
    @Test
    void q4f16WithAWrongFoldedBiasStillFails() {
        ParityReport report = parityOfDamaged(fixture(Q4F16), Mode.BIAS, model -> {
            Value bias = model.graph().initializers().stream()
                    .filter(v -> v.name().equals("model.layers.1.self_attn.o_proj.MatMul.bias")).findFirst().orElseThrow();
            float[] values = bias.initializer().toFloats();
            for (int i = 0; i < values.length; i++) {
                values[i] *= 1.1f;
            }
            bias.setInitializer(Tensor.ofFloats(bias.initializer().type(), bias.initializer().dims(), values));
        });
        ParityCheck independent = check(report, "independent");
        assertEquals(ParityCheck.Status.FAILED, independent.status(), independent.toString());
        assertEquals(ParityCheck.Status.FAILED, check(report, "modes").status(), report.toString());
    }
}
