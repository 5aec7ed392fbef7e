package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Value;
import java.util.function.UnaryOperator;

/**
 * Puts new nodes after a value: every reader of {@code x} (and a graph output that is {@code x})
 * then reads what the new nodes compute from {@code x}. The new nodes are built reading a stand-in,
 * so {@link Value#replaceAllUsesWith}, the one door for rewiring, moves only the old readers; the
 * stand-in is then replaced by {@code x} itself.
 */
final class Rewire {
    private Rewire() {}

    /** Builds {@code y = build(x)}, moves the readers of {@code x} to {@code y}; returns {@code y}. */
    static Value after(Value x, UnaryOperator<Value> build) {
        Value standIn = x.graph().newUnnamedValue();
        Value y = build.apply(standIn);
        x.replaceAllUsesWith(y, true);
        standIn.replaceAllUsesWith(x, false);
        return y;
    }
}
