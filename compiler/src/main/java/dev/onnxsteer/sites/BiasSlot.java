package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;

/**
 * A bias that can absorb a constant added at a site: {@code initializer} (1-D, hidden size) is
 * input {@code inputIndex} of {@code node}, whose output flows into the site with nothing but
 * additions in between (Add(MatMul, bias), or a fused SkipLayerNormalization's bias input). For a
 * {@link Projection} it is the projection's own bias (1-D, its output size).
 */
public record BiasSlot(Node node, int inputIndex, Value initializer) {}
