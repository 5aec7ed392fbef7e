package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.List;

/**
 * Float projections of the standard ops: {@code MatMul(x, W)} (then {@code Add(b)} or a fused
 * {@code FastGelu}/{@code BiasGelu} bias), {@code Gemm(x, W, C)}, and a Gemm behind the flattening
 * {@code Reshape} GPT-2's Conv1D exports put before it.
 */
final class FloatProjections implements ProjectionPattern {
    @Override
    public List<Projection> match(Use use, long hidden) {
        if (use.index() != 0) {
            return List.of();
        }
        Node n = use.node();
        Projection p = matMulOrGemm(n, hidden);
        if (p == null && n.is("Reshape") && !n.output(0).isGraphOutput() && n.output(0).uses().size() == 1) {
            Use next = n.output(0).uses().get(0);
            p = next.index() == 0 && next.node().is("Gemm") ? matMulOrGemm(next.node(), hidden) : null;
        }
        return p == null ? List.of() : List.of(p);
    }

    private static Projection matMulOrGemm(Node n, long hidden) {
        if (n.is("MatMul") && n.inputCount() == 2 && Projections.isWeight(n.input(1), hidden, false)) {
            Value w = n.input(1);
            return new Projection(n, w, false, Projections.biasAfter(n.output(0), w.initializer().dim(1)));
        }
        if (n.is("Gemm") && n.intAttribute("transA", 0) == 0) {
            boolean transposed = n.intAttribute("transB", 0) == 1;
            if (!Projections.isWeight(n.input(1), hidden, transposed)) {
                return null;
            }
            Value w = n.input(1);
            long out = w.initializer().dim(transposed ? 0 : 1);
            Value c = n.input(2);
            if (c != null && !Projections.isVector(c, out)) {
                return null;
            }
            return new Projection(n, w, transposed, c == null ? null : new BiasSlot(n, 2, c));
        }
        return null;
    }
}
