package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.OrtRunner;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The five approaches of "Implementing activation steering" (custom wrapper, forward hook,
 * TransformerLens hook, baukit edit, bias editing), each as the onnx-steer command of
 * docs/five-approaches.md on the GPT-2 layout fixture, checked against the equivalent compilation
 * in our own site names: the hook-name, module-path and bias forms of a site give the same logits.
 */
class FiveApproachesTest {
    static final double BIAS_TOLERANCE = 1e-5;

    @TempDir
    Path temp;

    Path model;
    Path vector;


    @BeforeEach
    void vectorFile() {
        model = Fixtures.dir(Fixtures.GPT2_TINY);
        Random random = new Random(42);
        float[] v = new float[Fixtures.GPT2_HIDDEN];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        vector = temp.resolve("direction.gguf");
        VectorFiles.write(SteeringVectors.of(Map.of(1, v), VectorMetadata.defaults()), vector);
    }

    /** Compiles with {@code --vector direction.gguf --coeff 4} plus {@code options}; returns the logits. */
    float[] compile(String name, String... options) {
        List<String> args = new ArrayList<>(List.of("compile", model.toString(), "--vector", vector.toString(),
                "--coeff", "4", "-o", temp.resolve(name).toString()));
        args.addAll(List.of(options));
        CliRun run = run(args.toArray(String[]::new));
        assertEquals(Main.OK, run.code(), String.join(" ", args) + ": " + run.err());
        return logits(temp.resolve(name));
    }

    static float[] logits(Path dir) {
        return OrtRunner.floats(OrtRunner.run(dir.resolve("model.onnx"), OrtRunner.Sizes.small(Fixtures.VOCAB), 3, false)
                .get("logits"));
    }

    @Test
    void wrapperHookAndTransformerLensAreResidPost() {
        float[] ours = compile("ours", "--site", "resid_post", "--layers", "1", "--mode", "add");
        // 1. a custom wrapper module around block 1 adds to its output
        // 2. a forward hook on transformer.h[1] changes its output
        float[] hook = compile("hook", "--site", "transformer.h.1", "--mode", "add");
        // 3. TransformerLens: blocks.1.hook_resid_post
        float[] lens = compile("lens", "--site", "blocks.1.hook_resid_post", "--mode", "add");
        assertArrayEquals(ours, hook, "module path transformer.h.1 is resid_post.1");
        assertArrayEquals(ours, lens, "hook name blocks.1.hook_resid_post is resid_post.1");
        assertTrue(OrtRunner.maxAbsDiff(ours, logits(model)) > 1e-3, "the vector changes the logits");
        assertEquals("resid_post.1", Provenance.operations(ModelReader.read(temp.resolve("lens/model.onnx")))
                .get(0).site(), "provenance records our canonical name");
    }

    @Test
    void baukitEditOfAModuleOutputIsItsSite() {
        // 4. baukit Trace/edit_output on transformer.h.1.mlp (and .attn) changes the sublayer output
        assertArrayEquals(compile("mlp-ours", "--site", "mlp_out", "--layers", "1", "--mode", "add"),
                compile("mlp-module", "--site", "transformer.h.1.mlp", "--mode", "add"));
        assertArrayEquals(compile("attn-ours", "--site", "attn_out", "--layers", "1", "--mode", "add"),
                compile("attn-lens", "--site", "blocks.1.hook_attn_out", "--mode", "add"));
        assertArrayEquals(compile("ln-ours", "--site", "attn_in.1", "--mode", "add"),
                compile("ln-module", "--site", "transformer.h.1.ln_1", "--mode", "add"));
    }

    @Test
    void biasEditingEqualsAddAtTheSameSite() {
        // 5. bias editing: c*v*W folded into c_attn.bias (input of attention) ...
        float[] add = compile("attn-in-add", "--site", "blocks.1.ln1.hook_normalized", "--mode", "add");
        float[] bias = compile("attn-in-bias", "--site", "blocks.1.ln1.hook_normalized", "--mode", "bias");
        float[] module = compile("attn-in-module", "--site", "transformer.h.1.ln_1", "--mode", "bias");
        assertTrue(OrtRunner.maxAbsDiff(add, bias) <= BIAS_TOLERANCE, "bias vs add at attn_in.1: " + OrtRunner.maxAbsDiff(add, bias));
        assertArrayEquals(bias, module);
        // ... or c*v folded into mlp.c_proj.bias, which is adding at the block output
        float[] post = compile("post-bias", "--site", "transformer.h.1", "--mode", "bias");
        float[] postAdd = compile("post-add", "--site", "resid_post.1", "--mode", "add");
        assertTrue(OrtRunner.maxAbsDiff(post, postAdd) <= BIAS_TOLERANCE);

        CliRun parity = run("parity", model.toString(), temp.resolve("attn-in-bias").toString(), "--tokens", "4");
        assertEquals(Main.OK, parity.code(), parity.out() + parity.err());
        assertTrue(parity.out().contains("parity: all checks passed"), parity.out());
    }

    @Test
    void aNamedLayerTakesTheOnlyDirectionOfTheFile() {
        // the file has one direction (layer 1); a site naming layer 2 applies it there
        assertArrayEquals(compile("named", "--site", "blocks.2.hook_resid_pre", "--mode", "add"),
                compile("layers", "--site", "resid_pre", "--layers", "2", "--mode", "add"));
    }

    @Test
    void unknownAndConflictingNamesAreUsageErrors() {
        CliRun typo = run("compile", model.toString(), "--vector", vector.toString(), "--site", "blocks.1.hook_resid_psot",
                "-o", temp.resolve("typo").toString());
        assertEquals(Main.USAGE, typo.code());
        assertTrue(typo.err().contains("closest valid names: blocks.1.hook_resid_post"), typo.err());
        CliRun conflict = run("compile", model.toString(), "--vector", vector.toString(), "--site", "transformer.h.1",
                "--layers", "2", "-o", temp.resolve("conflict").toString());
        assertEquals(Main.USAGE, conflict.code());
        assertTrue(conflict.err().contains("names layer 1 but --layers says 2"), conflict.err());
        CliRun noBias = run("compile", Fixtures.dir(Fixtures.LLAMA_TINY).toString(), "--vector", vector.toString(),
                "--site", "model.layers.1.input_layernorm", "--mode", "bias", "-o", temp.resolve("llama").toString());
        assertEquals(Main.USAGE, noBias.code());
        assertTrue(noBias.err().contains("--create-bias"), noBias.err());
    }

    @Test
    void inspectListsTheAliases() {
        CliRun inspect = run("inspect", model.toString());
        assertEquals(Main.OK, inspect.code(), inspect.err());
        assertTrue(inspect.out().lines().anyMatch(l -> l.startsWith("attn_in.1 ")
                && l.endsWith("blocks.1.ln1.hook_normalized, transformer.h.1.ln_1")), inspect.out());
        assertTrue(inspect.out().lines().anyMatch(l -> l.startsWith("resid_post.2 ")
                && l.endsWith("blocks.2.hook_resid_post, transformer.h.2")), inspect.out());
    }
}
