package dev.onnxsteer.sites;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Finds the linear projections that read a sublayer input: {@code MatMul(x, W)} (then
 * {@code Add(b)} or an ONNX Runtime {@code FastGelu}/{@code BiasGelu} bias), {@code Gemm} (behind a
 * flattening {@code Reshape} too, as GPT-2's Conv1D exports), and ONNX Runtime's fused
 * {@code Attention} (weight input 1, bias input 2). Anything else that reads the input is reported
 * as an other reader, which rules out bias folding there. Reading only.
 */
public final class Projections {
    private static final String MS = "com.microsoft";
    /** Element types a steerable weight, bias or embedding table may have. */
    static final Set<DataType> FLOATS = Set.of(DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16,
            DataType.DOUBLE);

    /** The readers of a sublayer input: the projections, and every node that is not one. */
    public record Readers(List<Projection> projections, List<Node> others) {
        public Readers {
            projections = List.copyOf(projections);
            others = List.copyOf(others);
        }

        /** The projections when they are all that reads the input (and it is no graph output), else empty. */
        public List<Projection> onlyProjections(Value x) {
            return others.isEmpty() && !x.isGraphOutput() ? projections : List.of();
        }
    }

    private Projections() {}

    /** The readers of {@code x}, whose last dimension is {@code hidden}; shape queries are ignored. */
    public static Readers of(Value x, long hidden) {
        List<Projection> projections = new ArrayList<>();
        List<Node> others = new ArrayList<>();
        for (Use use : x.uses()) {
            Node n = use.node();
            if (n.is("Shape") || n.is("Size")) {
                continue;
            }
            Projection p = use.index() == 0 ? projection(n, hidden) : null;
            if (p == null && use.index() == 0 && n.is("Reshape") && !n.output(0).isGraphOutput()
                    && n.output(0).uses().size() == 1) {
                Use next = n.output(0).uses().get(0);
                p = next.index() == 0 && next.node().is("Gemm") ? projection(next.node(), hidden) : null;
            }
            if (p != null) {
                projections.add(p);
            } else {
                others.add(n);
            }
        }
        return new Readers(projections, others);
    }

    private static Projection projection(Node n, long hidden) {
        if (n.is("MatMul") && n.inputCount() == 2 && isWeight(n.input(1), hidden, false)) {
            Value w = n.input(1);
            return new Projection(n, w, false, biasAfter(n.output(0), w.initializer().dim(1)));
        }
        if (n.is("Gemm") && n.intAttribute("transA", 0) == 0) {
            boolean transposed = n.intAttribute("transB", 0) == 1;
            if (!isWeight(n.input(1), hidden, transposed)) {
                return null;
            }
            Value w = n.input(1);
            long out = w.initializer().dim(transposed ? 0 : 1);
            Value c = n.input(2);
            if (c != null && !isVector(c, out)) {
                return null;
            }
            return new Projection(n, w, transposed, c == null ? null : new BiasSlot(n, 2, c));
        }
        if (n.opType().equals("Attention") && n.domain().equals(MS) && isWeight(n.input(1), hidden, false)) {
            Value w = n.input(1);
            Value b = n.input(2);
            if (b != null && !isVector(b, w.initializer().dim(1))) {
                return null;
            }
            return new Projection(n, w, false, b == null ? null : new BiasSlot(n, 2, b));
        }
        return null;
    }

    /** The bias added to a projection's product: Add(product, b), or a fused FastGelu/BiasGelu's bias input. */
    private static BiasSlot biasAfter(Value product, long out) {
        if (product.isGraphOutput() || product.uses().size() != 1) {
            return null;
        }
        Use use = product.uses().get(0);
        Node n = use.node();
        if (n.is("Add") && n.inputCount() == 2 && isVector(n.input(1 - use.index()), out)) {
            return new BiasSlot(n, 1 - use.index(), n.input(1 - use.index()));
        }
        boolean fusedGelu = n.domain().equals(MS) && (n.opType().equals("FastGelu") || n.opType().equals("BiasGelu"));
        if (fusedGelu && use.index() == 0 && isVector(n.input(1), out)) {
            return new BiasSlot(n, 1, n.input(1));
        }
        return null;
    }

    private static boolean isWeight(Value w, long hidden, boolean transposed) {
        if (w == null || !w.isInitializer()) {
            return false;
        }
        Tensor t = w.initializer();
        return FLOATS.contains(t.type()) && t.rank() == 2 && t.dim(transposed ? 1 : 0) == hidden;
    }

    /** A float initializer of {@code size} values whose last axis holds them all ([size], [1, size], ...). */
    static boolean isVector(Value v, long size) {
        if (v == null || !v.isInitializer()) {
            return false;
        }
        Tensor t = v.initializer();
        return FLOATS.contains(t.type()) && t.rank() >= 1 && t.elementCount() == size && t.dim(t.rank() - 1) == size;
    }
}
