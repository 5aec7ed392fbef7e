package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.Set;

/**
 * ONNX Runtime's fused join and norm: {@code (normed, _, _, sum) = SkipLayerNormalization(input,
 * skip, gamma, beta?, bias?)} or {@code SkipSimplifiedLayerNormalization(input, skip, gamma, bias?)}.
 * The residual is input 0 or 1; the sum is output 3 where the graph names it (a final norm often
 * does not), and a bias initializer is where a constant added at the sum folds.
 */
final class SkipNormJoin implements JoinPattern {
    @Override
    public boolean reads(Use use) {
        return use.index() <= 1 && Layouts.isSkipNorm(use.node());
    }

    @Override
    public Join join(Node node, Value h, Value x, Set<Node> region) {
        int biasIndex = Layouts.skipNormBiasInput(node);
        Value bias = node.input(biasIndex);
        BiasSlot slot = bias != null && bias.isInitializer() ? new BiasSlot(node, biasIndex, bias) : null;
        Value sum = node.outputs().size() > 3 && !node.output(3).name().isEmpty() ? node.output(3) : null;
        return new Join(node, h, x, sum, node.output(0), slot, region);
    }
}
