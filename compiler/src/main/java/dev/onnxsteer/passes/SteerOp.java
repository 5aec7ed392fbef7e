package dev.onnxsteer.passes;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * What a steering does to the residual stream at a site, with {@code r = v / |v|} and coefficient {@code c}.
 * Every in-graph operation acts on each position's hidden vector {@code x} separately.
 */
public enum SteerOp {
    /** {@code x + c v}. */
    ADD("add"),
    /** Directional ablation {@code x - (x . r) r}; the coefficient is not used. */
    ABLATE("ablate"),
    /** Ablate, then add: {@code x - (x . r) r + c v}. */
    ABLATE_ADD("ablate-add"),
    /** Sets the projection on r to c: {@code x - (x . r) r + c r}. */
    CLAMP("clamp"),
    /**
     * Weight orthogonalisation: every weight that writes into the residual stream is rewritten so that
     * it cannot write along r; equal to ablating every write, with no node added.
     */
    ORTHOGONALIZE("orthogonalize");

    private final String label;

    SteerOp(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    /** Whether the operation needs a direction (a non-zero vector normalised to r). */
    public boolean usesDirection() {
        return this != ADD;
    }

    public static SteerOp parse(String text) {
        for (SteerOp op : values()) {
            if (op.label.equals(text)) {
                return op;
            }
        }
        throw new IllegalArgumentException("unknown operation '" + text + "', expected one of "
                + Arrays.stream(values()).map(SteerOp::label).collect(Collectors.joining(", ")));
    }
}
