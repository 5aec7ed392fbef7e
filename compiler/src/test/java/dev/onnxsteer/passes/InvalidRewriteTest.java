package dev.onnxsteer.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.InvalidModelException;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.io.LoadCheck;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rewrite that emits a wrong graph is caught before the output is renamed into place: the compile
 * pipeline runs a deliberately broken extra rewrite, and nothing (output or staging directory) is left.
 */
class InvalidRewriteTest {
    @TempDir
    Path temp;

    static final List<Steering> STEERING = List.of(new Steering(SiteKind.RESID_POST, 2, ramp(), 1f));

    static float[] ramp() {
        float[] v = new float[Fixtures.LLAMA_HIDDEN];
        for (int i = 0; i < v.length; i++) {
            v[i] = i / (float) v.length - 0.5f;
        }
        return v;
    }

    /** Adds a float32 constant to the float16 resid_post.1 and moves its readers to the sum: the fp16 bug of issue 11. */
    static final Pass MISTYPED_ADD = model -> {
        Value site = SiteFinder.find(model).find(SiteKind.RESID_POST, 1).get(0).value();
        Graph graph = model.graph();
        List<Use> readers = site.uses();
        Value constant = graph.addInitializer("broken.addend", Tensor.ofFloats(new long[] {Fixtures.LLAMA_HIDDEN},
                new float[Fixtures.LLAMA_HIDDEN]));
        Value sum = graph.op("Add").name("/broken/Add").inputs(site, constant).value();
        for (Use use : readers) {
            use.node().setInput(use.index(), sum);
        }
        return PassResult.changed("a float32 constant added to float16 resid_post.1");
    };

    static List<Path> entries(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.toList();
        }
    }

    @Test
    void aMistypedNodeIsRefusedBeforeAnythingIsWritten() throws IOException {
        Path parent = Files.createDirectory(temp.resolve("out"));
        Path out = parent.resolve("steered");
        AtomicBoolean loaded = new AtomicBoolean();
        InvalidModelException e = assertThrows(InvalidModelException.class, () -> Compilation.compileTo(
                ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY_FP16), null), sites -> STEERING, Mode.ADD,
                SteerOptions.ADD, OutputTarget.refuseExisting(out), (file, source) -> loaded.set(true), List.of(MISTYPED_ADD)));
        assertEquals("compiled model is invalid: /broken/Add: input 0 (/model/layers.1/Add_1_output_0) is float16 "
                + "but input 1 (broken.addend) is float; Add needs one element type", e.getMessage());
        assertFalse(loaded.get(), "the type check runs before the model is written");
        assertEquals(List.of(), entries(parent), "no output and no staging directory");
    }

    @Test
    void theInMemoryCompileTypeChecksToo() {
        InvalidModelException e = assertThrows(InvalidModelException.class, () -> Compilation.compile(
                ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY_FP16), null), sites -> STEERING, Mode.ADD,
                SteerOptions.ADD, List.of(MISTYPED_ADD)));
        assertTrue(e.getMessage().startsWith("compiled model is invalid: /broken/Add: "), e.getMessage());
    }

    @Test
    void aDeclaredTypeTheOpDoesNotComputeIsRefused() {
        Pass castToWrongType = model -> {
            Value site = SiteFinder.find(model).find(SiteKind.RESID_POST, 1).get(0).value();
            List<Use> readers = site.uses();
            Value cast = model.graph().op("Cast").name("/broken/Cast").inputs(site)
                    .attr("to", (long) dev.onnxsteer.ir.DataType.FLOAT.code()).value();
            cast.setType(site.type() != null ? site.type()
                    : dev.onnxsteer.ir.ValueType.Tensor.of(dev.onnxsteer.ir.DataType.FLOAT16));
            for (Use use : readers) {
                use.node().setInput(use.index(), cast);
            }
            return PassResult.changed("resid_post.1 cast to float32 but declared float16");
        };
        InvalidModelException e = assertThrows(InvalidModelException.class, () -> Compilation.compile(
                ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY_FP16), null), sites -> STEERING, Mode.ADD,
                SteerOptions.ADD, List.of(castToWrongType)));
        assertEquals("compiled model is invalid: /broken/Cast: output /broken/Cast_output_0 is declared float16 but "
                + "Cast computes float from its inputs", e.getMessage());
    }

    @Test
    void aRuntimeRefusalLeavesNeitherOutputNorStagingDirectory() throws IOException {
        Path parent = Files.createDirectory(temp.resolve("out"));
        Path out = parent.resolve("steered");
        List<Path> staged = new java.util.ArrayList<>();
        LoadCheck refuse = (file, source) -> {
            staged.add(file);
            assertTrue(Files.isRegularFile(file), "the check sees the written file");
            throw new InvalidModelException("/model/layers.1/Add_1", "refused by the test's runtime");
        };
        InvalidModelException e = assertThrows(InvalidModelException.class, () -> Compilation.compileTo(
                ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY_FP16), null), sites -> STEERING, Mode.ADD,
                SteerOptions.ADD, OutputTarget.refuseExisting(out), refuse, List.of()));
        assertEquals("compiled model is invalid: /model/layers.1/Add_1: refused by the test's runtime", e.getMessage());
        assertEquals(1, staged.size());
        assertFalse(Files.exists(staged.get(0)));
        assertEquals(List.of(), entries(parent), "no output and no staging directory");
    }

    @Test
    void correctRewritesOfEveryTypePassTheCheck() {
        for (String fixture : List.of(Fixtures.LLAMA_TINY, Fixtures.LLAMA_TINY_FP16, Fixtures.LLAMA_TINY_BF16)) {
            Model model = Compilation.compile(ModelFiles.locate(Fixtures.dir(fixture), null), sites -> STEERING,
                    Mode.ADD, SteerOptions.of(SteerOp.CLAMP).withPreserveNorm(true).withPositions(Positions.from(1)))
                    .model();
            assertTrue(model.graph().nodes().stream().anyMatch(n -> n.name().startsWith("/onnx_steer/")), fixture);
        }
    }
}
