package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each projection recogniser on its own: what it accepts, where it finds the bias, what it refuses. */
class ProjectionsTest {
    private static final int K = 8;
    private static final int N = 6;
    private static final String MS = "com.microsoft";

    private final Graph g = new Graph("g");
    private final Value x = g.addInput("x", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(K)));

    @Test
    void matMulNBitsTakesItsBiasFromInput5AndRefusesAnotherK() {
        Node withBias = nBits("with_bias", K).inputs(x, bytes("w.packed", N, 1, 16), floats("w.scales", N), null, null,
                floats("w.bias", N)).append();
        Node otherK = nBits("other_k", K + 1).inputs(x, bytes("v.packed", N, 1, 16), floats("v.scales", N)).append();
        Projections.Readers readers = Projections.of(x, K);
        assertEquals(1, readers.projections().size());
        Projection p = readers.projections().get(0);
        assertEquals(withBias, p.node());
        assertEquals(Projection.Encoding.MATMUL_NBITS, p.encoding());
        assertEquals(N, p.outputSize());
        assertEquals(new BiasSlot(withBias, 5, withBias.input(5)), p.bias());
        assertEquals(List.of(otherK), readers.others(), "K is not x's width: not a projection of x");
    }

    @Test
    void matMulIntegerFindsTheBiasAfterCastAndScaleAndNeedsEveryReaderOfTheQuantizedInput() {
        Node quantize = g.op("DynamicQuantizeLinear").name("dql").inputs(x).outputCount(3).append();
        Node product = g.op("MatMulInteger").name("mmi").inputs(quantize.output(0), bytes("w_q", K, N), quantize.output(2)).append();
        Value f = g.op("Cast").name("cast").inputs(product.output(0)).attr("to", (long) DataType.FLOAT.code()).value();
        Value scaled = g.op("Mul").name("scale").inputs(f, g.op("Mul").name("scales").inputs(quantize.output(1),
                floats("w_scale", 1)).value()).value();
        Node add = g.op("Add").name("bias_add").inputs(scaled, floats("b", N)).append();
        Projection p = Projections.of(x, K).projections().get(0);
        assertEquals(Projection.Encoding.MATMUL_INTEGER, p.encoding());
        assertEquals(product, p.node());
        assertEquals(N, p.outputSize());
        assertEquals(new BiasSlot(add, 1, add.input(1)), p.bias());
        assertTrue(p.quantized());

        g.op("Relu").name("peek").inputs(quantize.output(0)).value();
        Projections.Readers readers = Projections.of(x, K);
        assertEquals(List.of(), readers.projections(), "the quantized input feeds something else too");
        assertEquals(List.of(quantize), readers.others());
    }

    @Test
    void qdqWeightsAndAQuantizedActivationPairAreProjectionsAndAFloatDequantizeIsNot() {
        Value q = g.op("QuantizeLinear").name("q").inputs(x, floats("x_scale", 1)).value();
        Value dq = g.op("DequantizeLinear").name("dq").inputs(q, floats("x_scale2", 1)).value();
        Node first = g.op("MatMul").name("first").inputs(dq, dequantized("w1_q", K, N)).append();
        Node second = g.op("MatMul").name("second").inputs(dq, dequantized("w2_q", K, N)).append();
        List<Projection> found = Projections.of(x, K).projections();
        assertEquals(List.of(first, second), found.stream().map(Projection::node).toList());
        assertTrue(found.stream().allMatch(p -> p.encoding() == Projection.Encoding.QDQ && p.outputSize() == N));
        assertEquals("w1_q", found.get(0).weight().name(), "the weight is the stored quantized initializer");

        Value y = g.addInput("y", ValueType.Tensor.of(DataType.FLOAT, Dim.of(1), Dim.of(K)));
        Value floatDq = g.op("DequantizeLinear").name("float_dq").inputs(floats("w_f", K, N), floats("s", 1)).value();
        g.op("MatMul").name("odd").inputs(y, floatDq).value();
        assertEquals(List.of(), Projections.of(y, K).projections());
    }

    @Test
    void bnb4ReadsKAndNFromItsAttributesAndTheBiasFromTheAddAfterIt() {
        Node bnb = g.op("MatMulBnb4").domain(MS).name("bnb").inputs(x, bytes("w.packed", K * N / 2), floats("w.absmax", 1))
                .attr("K", (long) K).attr("N", (long) N).attr("block_size", 64L).attr("quant_type", 1L).append();
        Node add = g.op("Add").name("bias_add").inputs(floats("b", N), bnb.output(0)).append();
        Projection p = Projections.of(x, K).projections().get(0);
        assertEquals(Projection.Encoding.BNB4, p.encoding());
        assertEquals(N, p.outputSize());
        assertEquals(new BiasSlot(add, 0, add.input(0)), p.bias());
    }

    @Test
    void aQuantizedProjectionWithABiasIsNotBiasFoldableUntilItsWeightIsDequantized() {
        nBits("proj", K).inputs(x, bytes("w.packed", N, 1, 16), floats("w.scales", N), null, null, floats("w.bias", N)).append();
        Site site = new Site(SiteKind.ATTN_IN, 0, x, g, K, null, Projections.of(x, K).projections());
        assertTrue(site.projections().get(0).hasBias());
        assertFalse(site.biasFoldable());
    }

    private dev.onnxsteer.ir.NodeBuilder nBits(String name, long k) {
        return g.op("MatMulNBits").domain(MS).name(name).attr("K", k).attr("N", (long) N).attr("bits", 4L)
                .attr("block_size", 32L);
    }

    private Value dequantized(String name, long... dims) {
        return g.op("DequantizeLinear").name(name + "_dq").inputs(bytes(name, dims), floats(name + "_scale", 1)).value();
    }

    private Value floats(String name, long... dims) {
        long count = 1;
        for (long d : dims) {
            count *= d;
        }
        return g.addInitializer(name, Tensor.ofFloats(dims, new float[(int) count]));
    }

    private Value bytes(String name, long... dims) {
        long count = 1;
        for (long d : dims) {
            count *= d;
        }
        DataType type = dims.length == 2 && name.endsWith("_q") ? DataType.INT8 : DataType.UINT8;
        return g.addInitializer(name, new Tensor(type, dims, new Tensor.Inline(ByteBuffer.allocate((int) count))));
    }
}
