package dev.onnxsteer.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.InvalidModelException;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.io.LoadCheck;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Pass;
import dev.onnxsteer.passes.PassResult;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runtime's half of the validity check: a rewrite whose types agree but which ONNX Runtime still
 * refuses (here a MatMul whose weight has the wrong inner size) is caught by loading the staged file,
 * and {@code compileTo} leaves nothing behind; the check is found without being named.
 */
class OrtLoadCheckTest {
    @TempDir
    Path temp;

    /** Multiplies the float16 resid_post.1 [.., 32] by a float16 [16, 32] weight: types agree, shapes do not. */
    static final Pass WRONG_SHAPE = model -> {
        Value site = SiteFinder.find(model).find(SiteKind.RESID_POST, 1).get(0).value();
        List<Use> readers = site.uses();
        Value weight = model.graph().addInitializer("broken.weight",
                Tensor.ofFloats(DataType.FLOAT16, new long[] {16, Fixtures.LLAMA_HIDDEN}, new float[16 * Fixtures.LLAMA_HIDDEN]));
        Value product = model.graph().op("MatMul").name("/broken/MatMul").inputs(site, weight).value();
        for (Use use : readers) {
            use.node().setInput(use.index(), product);
        }
        return PassResult.changed("resid_post.1 times a weight of the wrong shape");
    };

    @Test
    void theInstalledCheckIsOnnxRuntimes() {
        assertTrue(LoadCheck.installed() instanceof OrtLoadCheck, LoadCheck.installed().getClass().getName());
    }

    @Test
    void aModelOnnxRuntimeRefusesIsNotRenamedIntoPlace() throws IOException {
        Path parent = Files.createDirectory(temp.resolve("out"));
        Path out = parent.resolve("steered");
        float[] v = new float[Fixtures.LLAMA_HIDDEN];
        v[0] = 1;
        InvalidModelException e = assertThrows(InvalidModelException.class, () -> Compilation.compileTo(
                ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY_FP16), null),
                sites -> List.of(new Steering(SiteKind.RESID_POST, 2, v, 1f)), Mode.ADD, SteerOptions.ADD, OutputTarget.refuseExisting(out),
                LoadCheck.installed(), List.of(WRONG_SHAPE)));
        assertTrue(e.getMessage().startsWith("compiled model is invalid: /broken/MatMul: ONNX Runtime refuses to load it: "),
                e.getMessage());
        assertTrue(e.getMessage().contains("Incompatible dimensions"), e.getMessage());
        try (Stream<Path> left = Files.list(parent)) {
            assertEquals(List.of(), left.toList(), "no output and no staging directory");
        }
    }
}
