package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.Set;

/** The plain residual join of standard-op exports: {@code sum = Add(residual, sublayer)}. */
final class AddJoin implements JoinPattern {
    @Override
    public boolean reads(Use use) {
        return use.node().is("Add") && use.node().inputCount() == 2;
    }

    @Override
    public Join join(Node node, Value h, Value x, Set<Node> region) {
        return new Join(node, h, x, node.output(0), null, null, region);
    }
}
