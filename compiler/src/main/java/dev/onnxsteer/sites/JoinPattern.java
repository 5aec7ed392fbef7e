package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.Set;

/**
 * One layout of a residual join, {@code sum = residual + sublayer}, as seen from the residual.
 * {@link ResidualWalk} has already checked that the node's other operand is computed from the
 * residual ({@code region}); the pattern says whether the node is a join and what its outputs mean.
 */
interface JoinPattern {
    /** Whether {@code use} (a node reading the residual at an input index) could be this kind of join. */
    boolean reads(Use use);

    /** The join {@code node} makes of residual {@code h} and sublayer output {@code x}. */
    Join join(Node node, Value h, Value x, Set<Node> region);
}
