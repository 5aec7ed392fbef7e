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
 * Finds the linear projections that read a sublayer input, float or quantized: each layout is one
 * {@link ProjectionPattern} of {@link Layouts#PROJECTIONS}. Anything else that reads the input is reported
 * as an other reader, which rules out bias folding there. Reading only.
 */
public final class Projections {
    /** Element types a steerable weight, bias or embedding table may have. */
    static final Set<DataType> FLOATS = Set.of(DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16,
            DataType.DOUBLE);
    /** Element types of a quantized weight matrix (MatMulInteger, QDQ). */
    private static final Set<DataType> QUANTIZED = Set.of(DataType.INT8, DataType.UINT8, DataType.INT4,
            DataType.UINT4, DataType.INT16, DataType.UINT16);

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
        for (Use use : Dataflow.valueReads(x)) {
            List<Projection> found = List.of();
            for (ProjectionPattern pattern : Layouts.PROJECTIONS) {
                found = pattern.match(use, hidden);
                if (!found.isEmpty()) {
                    break;
                }
            }
            if (found.isEmpty()) {
                others.add(use.node());
            } else {
                projections.addAll(found);
            }
        }
        return new Readers(projections, others);
    }

    /** The bias added to a projection's product: Add(product, b), or a fused FastGelu/BiasGelu's bias input. */
    static BiasSlot biasAfter(Value product, long out) {
        if (product.isGraphOutput() || product.uses().size() != 1) {
            return null;
        }
        Use use = product.uses().get(0);
        Node n = use.node();
        if (n.is("Add") && n.inputCount() == 2 && isVector(n.input(1 - use.index()), out)) {
            return new BiasSlot(n, 1 - use.index(), n.input(1 - use.index()));
        }
        boolean fusedGelu = n.domain().equals(Layouts.MS) && (n.opType().equals("FastGelu") || n.opType().equals("BiasGelu"));
        if (fusedGelu && use.index() == 0 && isVector(n.input(1), out)) {
            return new BiasSlot(n, 1, n.input(1));
        }
        return null;
    }

    /**
     * The output width N of a {@code com.microsoft} packed-block projection {@code opType(x, B, ...)}
     * read at input 0, whose attribute K is {@code hidden} and whose {@code B} is a uint8 initializer
     * (MatMulNBits, MatMulBnb4); -1 when {@code use} is not one.
     */
    static long packedWidth(Use use, String opType, long hidden) {
        Node n = use.node();
        if (use.index() != 0 || !n.opType().equals(opType) || !n.domain().equals(Layouts.MS)) {
            return -1;
        }
        long out = n.intAttribute("N", -1);
        Value packed = n.input(1);
        boolean fits = n.intAttribute("K", -1) == hidden && out > 0 && packed != null && packed.isInitializer()
                && packed.initializer().type() == DataType.UINT8;
        return fits ? out : -1;
    }

    /** A float initializer {@code [hidden, out]} ({@code [out, hidden]} when transposed). */
    static boolean isWeight(Value w, long hidden, boolean transposed) {
        if (w == null || !w.isInitializer()) {
            return false;
        }
        Tensor t = w.initializer();
        return FLOATS.contains(t.type()) && t.rank() == 2 && t.dim(transposed ? 1 : 0) == hidden;
    }

    /** An integer initializer {@code [hidden, out]}: the stored weight of MatMulInteger or of a QDQ MatMul. */
    static boolean isQuantizedMatrix(Value w, long hidden) {
        if (w == null || !w.isInitializer()) {
            return false;
        }
        Tensor t = w.initializer();
        return QUANTIZED.contains(t.type()) && t.rank() == 2 && t.dim(0) == hidden;
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
