package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.sites.BiasSlot;
import dev.onnxsteer.sites.Site;

/**
 * {@link Mode#BIAS} at a sublayer output: the site is {@code MatMul + Add(bias)}, so adding {@code c v}
 * there is adding it to the bias. No node is added. (Sublayer inputs fold {@code c v W} instead, see
 * {@link SublayerInputBias}.)
 */
final class BiasFold {
    private BiasFold() {}

    static SteerPass.Applied fold(Steering steering, Site site) {
        String originalName = site.bias().initializer().name();
        String folded = addToBias(site.bias(), VectorMath.scaled(steering.vector(), steering.coefficient()));
        return new SteerPass.Applied(steering, site, Mode.BIAS, folded, null, originalName);
    }

    /**
     * Adds {@code delta} to the bias in {@code slot}; a bias that anything else can see (another reader, a
     * graph input or output) is copied first so only this slot changes. Returns the name of the edited bias.
     */
    static String addToBias(BiasSlot slot, float[] delta) {
        Value bias = slot.initializer();
        Tensor original = bias.initializer();
        // widened to float32, summed there, rounded once to the bias's own type
        float[] values = original.toFloats();
        for (int i = 0; i < values.length; i++) {
            values[i] += delta[i];
        }
        Tensor folded = Tensor.ofFloats(original.type(), original.dims(), values);
        boolean shared = bias.uses().size() > 1 || bias.isGraphInput() || bias.isGraphOutput();
        if (shared) {
            Graph owner = bias.graph();
            Value copy = owner.addInitializer(owner.names().fresh(bias.name() + ".steered"), folded);
            slot.node().setInput(slot.inputIndex(), copy);
            return copy.name();
        }
        bias.setInitializer(folded);
        return bias.name();
    }
}
