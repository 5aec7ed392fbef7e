package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;

/**
 * What discovery counts as a constant: a value computed from initializers alone. Exporters do not
 * always hand a weight to the op that uses it: torch.onnx deduplicates identical parameters into
 * {@code Identity} nodes of one initializer, mixed-precision exports {@code Cast} them, QDQ models
 * {@code DequantizeLinear} them, and small tensors arrive as {@code Constant} nodes. Every matcher
 * that asks "is this operand a weight or a graph input?" asks here, so they all agree.
 */
public final class Constants {
    /** Deeper chains are unheard of in exports; the bound keeps a pathological graph from recursing far. */
    private static final int MAX_DEPTH = 16;

    private Constants() {}

    /**
     * True for an initializer, and for the output of a deterministic node whose every input is itself
     * a constant ({@code Constant}, which has none, included). Random generators are not constants.
     */
    public static boolean isConstant(Value v) {
        return isConstant(v, 0);
    }

    private static boolean isConstant(Value v, int depth) {
        if (v.isInitializer()) {
            return true;
        }
        Node p = v.producer();
        if (p == null || depth >= MAX_DEPTH || p.opType().startsWith("Random") || !p.subgraphs().isEmpty()) {
            return false;
        }
        if (p.inputs().stream().allMatch(in -> in == null)) {
            return p.is("Constant");
        }
        return p.inputs().stream().allMatch(in -> in == null || isConstant(in, depth + 1));
    }
}
