package dev.onnxsteer.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.OrtRunner;
import dev.onnxsteer.TestModels;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Bias editing at the sublayer inputs: folding c*v*W into the biases of the projections that read
 * attn_in/mlp_in adds no node and computes what an Add of c*v at the same tensor computes.
 */
class SublayerInputBiasTest {
    static final double TOLERANCE = 1e-5;

    @TempDir
    Path temp;

    record Compiled(Path file, int nodes, List<SteerPass.Applied> applied) {}

    static float[] vector(long size, long seed) {
        Random random = new Random(seed);
        float[] v = new float[(int) size];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    static int nodeCount(Model model) {
        return model.graph().allGraphs().stream().mapToInt(g -> g.nodes().size()).sum();
    }

    Compiled compile(Path source, List<Steering> steerings, Mode mode, boolean createBias, String name) {
        Model model = ModelReader.read(source);
        SteerPass pass = new SteerPass(SiteFinder.find(model), steerings, mode, SteerOptions.ADD.withCreateBias(createBias));
        pass.run(model);
        Path out = temp.resolve(name).resolve("model.onnx");
        ModelWriter.write(model, out);
        return new Compiled(out, nodeCount(model), pass.applied());
    }

    static float[] logits(Path model, int vocab) {
        return OrtRunner.floats(OrtRunner.run(model, OrtRunner.Sizes.small(vocab), 7, false).get("logits"));
    }

    @ParameterizedTest
    @CsvSource({
            "gpt2-tiny-nopast, ATTN_IN, 1",
            "gpt2-tiny-nopast, MLP_IN, 2",
            "gpt2-tiny, ATTN_IN, 0",
            "fused, ATTN_IN, 0",
            "fused, ATTN_IN, 2",
            "fused, MLP_IN, 4"})
    void biasAtASublayerInputAddsNoNodeAndEqualsAdd(String fixture, SiteKind kind, int layer) {
        boolean fused = fixture.equals("fused");
        Path source = fused ? TestModels.fusedGpt2() : Fixtures.dir(fixture).resolve("model.onnx");
        int vocab = fused ? 1000 : Fixtures.VOCAB;
        Model original = ModelReader.read(source);
        long hidden = SiteFinder.find(original).hiddenSize();
        List<Steering> steering = List.of(new Steering(kind, layer, vector(hidden, 11), 3f));

        Compiled bias = compile(source, steering, Mode.BIAS, false, "bias");
        Compiled add = compile(source, steering, Mode.ADD, false, "add");
        Compiled auto = compile(source, steering, Mode.AUTO, false, "auto");
        assertEquals(nodeCount(original), bias.nodes(), "bias editing adds no node");
        assertEquals(nodeCount(original) + 1, add.nodes());
        assertEquals(Mode.BIAS, auto.applied().get(0).mode(), "auto folds where every projection has a bias");
        String expectedBias = fused ? (kind == SiteKind.ATTN_IN ? "c_attn.bias" : "c_fc.bias")
                : "transformer.h." + layer + (kind == SiteKind.ATTN_IN ? ".attn.c_attn.bias" : ".mlp.c_fc.bias");
        assertTrue(bias.applied().get(0).tensor().contains(expectedBias), bias.applied().get(0).toString());

        float[] base = logits(source, vocab);
        float[] viaBias = logits(bias.file(), vocab);
        float[] viaAdd = logits(add.file(), vocab);
        double diff = OrtRunner.maxAbsDiff(viaBias, viaAdd);
        assertTrue(diff <= TOLERANCE, fixture + " " + kind + "." + layer + ": bias vs add differ by " + diff);
        assertTrue(OrtRunner.maxAbsDiff(base, viaAdd) > 1e-3, "the vector changes the logits");
    }

    /**
     * {@code expected[j] = bias[j] + c * sum_i v[i] W[i][j]}, in double from the source model's own
     * {@code [in, out]} MatMul weight: the arithmetic written out here, not the pass's.
     */
    static double[] foldedByHand(Model source, String weightName, String biasName, float[] v, float c) {
        dev.onnxsteer.ir.Tensor weight = source.graph().find(weightName).orElseThrow().initializer();
        int in = (int) weight.dims()[0];
        int out = (int) weight.dims()[1];
        assertEquals(v.length, in, weightName + " is [in, out]");
        float[] w = weight.toFloats();
        float[] bias = biasName == null ? new float[out] : source.graph().find(biasName).orElseThrow().initializer().toFloats();
        double[] expected = new double[out];
        for (int j = 0; j < out; j++) {
            double dot = 0;
            for (int i = 0; i < in; i++) {
                dot += (double) v[i] * w[i * out + j];
            }
            expected[j] = bias[j] + c * dot;
        }
        return expected;
    }

    static void assertValues(double[] expected, String tensor, Model steered) {
        float[] actual = steered.graph().find(tensor).orElseThrow().initializer().toFloats();
        assertEquals(expected.length, actual.length, tensor);
        for (int j = 0; j < expected.length; j++) {
            assertEquals(expected[j], actual[j], 1e-5 * Math.max(1, Math.abs(expected[j])), tensor + "[" + j + "]");
        }
    }

    @Test
    void theFoldedBiasIsTheOriginalBiasPlusCTimesVW() {
        Path source = Fixtures.dir(Fixtures.GPT2_TINY_NOPAST).resolve("model.onnx");
        Model original = ModelReader.read(source);
        Model model = ModelReader.read(source);
        float[] v = vector(Fixtures.GPT2_HIDDEN, 21);
        SteerPass pass = new SteerPass(SiteFinder.find(model), List.of(new Steering(SiteKind.MLP_IN, 0, v, 2.5f)),
                Mode.BIAS);
        assertTrue(pass.run(model).modified());
        SteerPass.Applied applied = pass.applied().get(0);
        assertEquals("transformer.h.0.mlp.c_fc.bias", applied.tensor());
        assertValues(foldedByHand(original, "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias", v, 2.5f),
                applied.tensor(), model);
        assertEquals(original.graph().find("transformer.h.0.mlp.c_fc.weight").orElseThrow().initializer().bytes(),
                model.graph().find("transformer.h.0.mlp.c_fc.weight").orElseThrow().initializer().bytes(),
                "the weight itself is not changed");
    }

    @Test
    void createdBiasesAreCTimesVWForEachProjection() {
        Path source = Fixtures.dir(Fixtures.LLAMA_TINY_NOPAST).resolve("model.onnx");
        Model original = ModelReader.read(source);
        Model model = ModelReader.read(source);
        float[] v = vector(Fixtures.LLAMA_HIDDEN, 22);
        SteerPass pass = new SteerPass(SiteFinder.find(model), List.of(new Steering(SiteKind.ATTN_IN, 1, v, -1.5f)),
                Mode.BIAS, SteerOptions.ADD.withCreateBias(true));
        pass.run(model);
        for (String projection : List.of("q_proj", "k_proj", "v_proj")) {
            String prefix = "model.layers.1.self_attn." + projection;
            assertValues(foldedByHand(original, prefix + ".weight", null, v, -1.5f), prefix + ".bias", model);
        }
    }

    @Test
    void aSharedBiasIsCopiedBeforeFolding() {
        // the fused graph's layers share one c_attn bias initializer; steering layer 2 must leave the others alone
        Path source = TestModels.fusedGpt2();
        Model model = ModelReader.read(source);
        SteerPass pass = new SteerPass(SiteFinder.find(model), List.of(new Steering(SiteKind.ATTN_IN, 2,
                vector(32, 3), 2f)), Mode.BIAS);
        pass.run(model);
        String tensor = pass.applied().get(0).tensor();
        assertTrue(tensor.endsWith(".steered"), tensor);
        assertEquals(pass.applied().get(0).originalBias(), "transformer.h.0.attn.c_attn.bias");
        Graph g = model.graph();
        assertTrue(g.find("transformer.h.0.attn.c_attn.bias").orElseThrow().uses().size() >= 4);
    }

    @Test
    void llamaHasNoBiasToFoldAndSaysSo() {
        Path source = Fixtures.dir(Fixtures.LLAMA_TINY_NOPAST).resolve("model.onnx");
        Model model = ModelReader.read(source);
        List<Steering> steering = List.of(new Steering(SiteKind.ATTN_IN, 1, vector(Fixtures.LLAMA_HIDDEN, 5), 2f));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new SteerPass(SiteFinder.find(model), steering, Mode.BIAS).run(model));
        assertTrue(e.getMessage().contains("have no bias") && e.getMessage().contains("--mode add")
                && e.getMessage().contains("--create-bias") && e.getMessage().contains("q_proj"), e.getMessage());
        assertEquals(nodeCount(ModelReader.read(source)), nodeCount(model), "a refused request leaves the model untouched");

        Compiled auto = compile(source, steering, Mode.AUTO, false, "auto");
        assertEquals(Mode.ADD, auto.applied().get(0).mode(), "auto adds where there is no bias");

        Compiled created = compile(source, steering, Mode.BIAS, true, "created");
        Compiled add = compile(source, steering, Mode.ADD, false, "add");
        assertEquals(nodeCount(ModelReader.read(source)) + 3, created.nodes(), "one bias Add per projection (q, k, v)");
        assertEquals("model.layers.1.self_attn.q_proj.bias,model.layers.1.self_attn.k_proj.bias,"
                + "model.layers.1.self_attn.v_proj.bias", created.applied().get(0).tensor());
        double diff = OrtRunner.maxAbsDiff(logits(created.file(), Fixtures.VOCAB), logits(add.file(), Fixtures.VOCAB));
        assertTrue(diff <= TOLERANCE, "created biases vs add differ by " + diff);
        assertNotEquals(0, OrtRunner.maxAbsDiff(logits(source, Fixtures.VOCAB), logits(add.file(), Fixtures.VOCAB)));
    }

    @Test
    void provenanceRecordsTheCanonicalSiteAndTheAddedVector() {
        Path source = Fixtures.dir(Fixtures.GPT2_TINY_NOPAST).resolve("model.onnx");
        Model model = ModelReader.read(source);
        float[] v = vector(Fixtures.GPT2_HIDDEN, 9);
        SteerPass pass = new SteerPass(SiteFinder.find(model), List.of(new Steering(SiteKind.MLP_IN, 0, v, 2f)), Mode.BIAS);
        pass.run(model);
        Provenance.record(model, pass.applied(), "source");
        Provenance.Operation op = Provenance.operations(model).get(0);
        assertEquals("mlp_in.0", op.site());
        assertEquals("bias", op.mode());
        assertEquals("transformer.h.0.mlp.c_fc.bias", op.originalBias());
        for (int i = 0; i < v.length; i++) {
            assertEquals(2f * v[i], op.added()[i]);
        }
    }
}
