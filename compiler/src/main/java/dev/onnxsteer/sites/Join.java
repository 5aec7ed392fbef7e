package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import java.util.Set;

/**
 * One residual join found by {@link ResidualWalk}: {@code sum = residual + sublayer} (plus a fused
 * bias, {@code fusedBias}); {@code normed} is a fused skip norm's output 0, else null. {@code region}
 * holds the sublayer's nodes: those on a path from the residual to {@code sublayer}.
 */
record Join(Node node, Value residual, Value sublayer, Value sum, Value normed, BiasSlot fusedBias,
        Set<Node> region) {}
