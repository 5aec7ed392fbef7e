package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.List;

/**
 * ONNX Runtime's fused {@code com.microsoft Attention(x, W_qkv, b_qkv, ...)} (the transformer
 * optimizer's GPT-2 and BERT attention): the packed q|k|v projection lives inside the op, weight
 * input 1 {@code [hidden, 3 hidden]}, bias input 2.
 */
final class FusedAttentionProjection implements ProjectionPattern {
    @Override
    public List<Projection> match(Use use, long hidden) {
        Node n = use.node();
        if (use.index() != 0 || !n.opType().equals("Attention") || !n.domain().equals(Layouts.MS)
                || !Projections.isWeight(n.input(1), hidden, false)) {
            return List.of();
        }
        Value w = n.input(1);
        Value b = n.input(2);
        if (b != null && !Projections.isVector(b, w.initializer().dim(1))) {
            return List.of();
        }
        return List.of(new Projection(n, w, false, b == null ? null : new BiasSlot(n, 2, b)));
    }
}
