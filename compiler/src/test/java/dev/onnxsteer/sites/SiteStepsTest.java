package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Each step of discovery on its own, on graphs small enough to read in the test. */
class SiteStepsTest {
    private static final int HIDDEN = 4;

    @Test
    void embeddingStartsRankTheTokenGatherFirstAndAbsorbThePositionEmbedding() {
        Graph g = new Graph("g");
        Value ids = g.addInput("input_ids", ValueType.Tensor.of(DataType.INT64, Dim.param("b"), Dim.param("s")));
        Value positions = g.addInput("position_ids", ValueType.Tensor.of(DataType.INT64, Dim.param("b"), Dim.param("s")));
        Value castIds = g.op("Cast").name("cast_ids").inputs(ids).attr("to", (long) DataType.INT32.code()).value();
        Node tokens = g.op("Gather").name("wte").inputs(table(g, "wte.weight", 10), castIds).append();
        Node place = g.op("Gather").name("wpe").inputs(table(g, "wpe.weight", 16), positions).append();
        Value computedIds = g.op("Add").name("shifted").inputs(ids, g.addInitializer("one", Tensor.scalar(1L))).value();
        g.op("Gather").name("not_a_start").inputs(table(g, "other.weight", 10), computedIds).append();
        Value embedded = g.op("Add").name("embed_sum").inputs(tokens.output(0), place.output(0)).value();

        assertEquals(List.of(tokens, place), EmbeddingStarts.of(g), "input_ids first; computed ids are no start");
        assertEquals(ids, EmbeddingStarts.tokenIds(tokens), "through the Cast to the graph input");
        assertNull(EmbeddingStarts.tokenIds(g.nodes().stream().filter(n -> n.name().equals("not_a_start")).findFirst().orElseThrow()));
        EmbeddingStarts.Start start = EmbeddingStarts.start(tokens, g, new Dataflow());
        assertEquals(embedded, start.resid0(), "the position embedding is part of the stream's start");
        assertEquals(HIDDEN, start.hidden());
        assertFalse(start.fusedPostNorm());
    }

    @Test
    void theNormFixpointGrowsAnFp16RmsNormThroughItsCastsAndClosesOnItsOutput() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT16, Dim.of(1), Dim.of(HIDDEN)));
        Value normed = rmsNorm(g, x);
        g.op("MatMul").name("sublayer_reads").inputs(normed, g.addInitializer("w", Tensor.ofFloats(DataType.FLOAT16,
                new long[] {HIDDEN, HIDDEN}, new float[HIDDEN * HIDDEN]))).value();
        NormMatch.Grown grown = NormMatch.grow(x, g, n -> true);
        assertEquals(Set.of("to_f32", "pow", "mean", "eps", "sqrt", "inv", "scale", "to_f16", "gain"),
                grown.nodes().stream().map(Node::name).collect(Collectors.toSet()));
        assertTrue(grown.reduces() && grown.divides());
        assertEquals(normed, NormMatch.closedNorm(x, g));

        // a residual Add that also reads x: the norm no longer consumes all of it
        Value sublayer = g.addInput("sublayer", ValueType.Tensor.of(DataType.FLOAT16, Dim.of(1), Dim.of(HIDDEN)));
        g.op("Add").name("residual").inputs(x, sublayer).value();
        assertNull(NormMatch.closedNorm(x, g));
        // the admission rule is the caller's: without the Pow, nothing reduces
        assertFalse(NormMatch.grow(x, g, n -> !n.is("Pow")).reduces());
    }

    @Test
    void aSingleOpNormIsTheClosedNormOfItsInput() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(HIDDEN)));
        Value out = g.op("SimplifiedLayerNormalization").name("norm").inputs(x, vector(g, "gain")).value();
        assertEquals(out, NormMatch.closedNorm(x, g));
    }

    @Test
    void layerNamesVoteOverNodeValueAndWeightNamesAndATieIsNoAnswer() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(HIDDEN)));
        Node q = g.op("MatMul").name("/model/layers.3/self_attn/q_proj/MatMul").inputs(x, table(g, "model.layers.3.q.weight", HIDDEN)).append();
        Node stray = g.op("Relu").name("/model/layers.7/odd").inputs(q.output(0)).append();
        assertEquals(3, LayerNames.namedLayer(Set.of(q, stray)), "3 by node, output and weight name; 7 by two");
        Node other = g.op("Relu").name("/transformer/h.2/attn/Relu").inputs(x).append();
        assertNull(LayerNames.namedLayer(Set.of(stray, other)), "two votes for 7, two for 2");
        assertNull(LayerNames.namedLayer(Set.of(g.op("Relu").name("unnamed").inputs(x).append())), "no layer in the names");
    }

    @Test
    void aRegionIsTheNodesOnAPathFromTheResidualToTheSublayerOutput() {
        Graph g = new Graph("g");
        Value h = g.addInput("h", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(HIDDEN)));
        Value mask = g.addInput("mask", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(HIDDEN)));
        Node a = g.op("Relu").name("a").inputs(h).append();
        Node maskOp = g.op("Neg").name("mask_op").inputs(mask).append();
        Node b = g.op("Mul").name("b").inputs(a.output(0), maskOp.output(0)).append();
        Node x = g.op("Abs").name("x").inputs(b.output(0)).append();
        Dataflow flow = new Dataflow();
        assertEquals(Set.of(a, b, x), flow.region(x.output(0), h, g), "the mask's own op is not on the path");
        assertTrue(flow.dependsOn(x.output(0), h, g));
        assertFalse(flow.dependsOn(maskOp.output(0), h, g));
    }

    @Test
    void aSublayerOutputsBiasIsTheAddAfterItOrTheProjectionsOwnBiasInput() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(HIDDEN)));
        Node nBits = g.op("MatMulNBits").domain("com.microsoft").name("o_proj").inputs(x, g.addInitializer("w.packed",
                new Tensor(DataType.UINT8, new long[] {HIDDEN, 1, 16}, new Tensor.Inline(java.nio.ByteBuffer.allocate(HIDDEN * 16)))),
                vector(g, "w.scales"), null, null, vector(g, "o_proj.bias")).attr("K", (long) HIDDEN).attr("N", (long) HIDDEN)
                .attr("bits", 4L).attr("block_size", 32L).append();
        assertEquals(new BiasSlot(nBits, 5, nBits.input(5)), SiteAssembly.biasOf(nBits.output(0), HIDDEN));
        Node gemm = g.op("Gemm").name("dense").inputs(x, table(g, "dense.weight", HIDDEN), vector(g, "dense.bias")).append();
        assertEquals(new BiasSlot(gemm, 2, gemm.input(2)), SiteAssembly.biasOf(gemm.output(0), HIDDEN));
        Node plain = g.op("MatMul").name("plain").inputs(x, table(g, "plain.weight", HIDDEN)).append();
        Node add = g.op("Add").name("plain_bias").inputs(vector(g, "plain.bias"), plain.output(0)).append();
        assertEquals(new BiasSlot(add, 0, add.input(0)), SiteAssembly.biasOf(add.output(0), HIDDEN));
        assertNull(SiteAssembly.biasOf(plain.output(0), HIDDEN), "a MatMul of its own has no bias");
    }

    /** Cast to float, x / sqrt(mean(x^2) + eps), Cast back, times the gain. */
    private static Value rmsNorm(Graph g, Value x) {
        Value xf = g.op("Cast").name("to_f32").inputs(x).attr("to", (long) DataType.FLOAT.code()).value();
        Value sq = g.op("Pow").name("pow").inputs(xf, g.addInitializer("two", Tensor.scalar(2f))).value();
        Value mean = g.op("ReduceMean").name("mean").inputs(sq).attr("axes", new long[] {-1}).value();
        Value var = g.op("Add").name("eps").inputs(mean, g.addInitializer("epsilon", Tensor.scalar(1e-5f))).value();
        Value std = g.op("Sqrt").name("sqrt").inputs(var).value();
        Value inv = g.op("Div").name("inv").inputs(g.addInitializer("one_f", Tensor.scalar(1f)), std).value();
        Value scaled = g.op("Mul").name("scale").inputs(xf, inv).value();
        Value half = g.op("Cast").name("to_f16").inputs(scaled).attr("to", (long) DataType.FLOAT16.code()).value();
        return g.op("Mul").name("gain").inputs(half, g.addInitializer("gain_w",
                Tensor.ofFloats(DataType.FLOAT16, new long[] {HIDDEN}, 1, 1, 1, 1))).value();
    }

    private static Value table(Graph g, String name, int rows) {
        return g.addInitializer(name, Tensor.ofFloats(new long[] {rows, HIDDEN}, new float[rows * HIDDEN]));
    }

    private static Value vector(Graph g, String name) {
        return g.addInitializer(name, Tensor.ofFloats(new long[] {HIDDEN}, new float[HIDDEN]));
    }
}
