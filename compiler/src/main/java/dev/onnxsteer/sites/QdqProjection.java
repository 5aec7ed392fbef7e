package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.List;

/**
 * QDQ weights: {@code MatMul(x, DequantizeLinear(Wq, scale, zero_point))} with {@code Wq} an 8- or
 * 4-bit {@code [in, out]} initializer (then {@code Add(b)}). Static QDQ also routes the activation
 * through {@code DequantizeLinear(QuantizeLinear(x))}; the reader of {@code x} is then the
 * QuantizeLinear, and it is these projections when every MatMul after the pair has QDQ weights.
 */
final class QdqProjection implements ProjectionPattern {
    @Override
    public List<Projection> match(Use use, long hidden) {
        if (use.index() != 0) {
            return List.of();
        }
        Node n = use.node();
        Projection direct = qdqMatMul(n, hidden);
        if (direct != null) {
            return List.of(direct);
        }
        if (!n.is("QuantizeLinear") || n.output(0).isGraphOutput()) {
            return List.of();
        }
        List<Use> dequantized = Dataflow.valueReads(n.output(0));
        if (dequantized.size() != 1 || !dequantized.get(0).node().is("DequantizeLinear")
                || dequantized.get(0).index() != 0) {
            return List.of();
        }
        Value x = dequantized.get(0).node().output(0);
        List<Projection> found = new ArrayList<>();
        for (Use read : Dataflow.valueReads(x)) {
            Projection p = read.index() == 0 ? qdqMatMul(read.node(), hidden) : null;
            if (p == null || x.isGraphOutput()) {
                return List.of();
            }
            found.add(p);
        }
        return found;
    }

    private static Projection qdqMatMul(Node n, long hidden) {
        if (!n.is("MatMul") || n.inputCount() != 2 || n.input(1) == null || n.input(1).producer() == null) {
            return null;
        }
        Node dequantize = n.input(1).producer();
        if (!dequantize.is("DequantizeLinear") || !Projections.isQuantizedMatrix(dequantize.input(0), hidden)) {
            return null;
        }
        Value w = dequantize.input(0);
        return new Projection(n, w, false, Projections.biasAfter(n.output(0), w.initializer().dim(1)),
                Projection.Encoding.QDQ);
    }
}
