package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import java.util.List;

/**
 * {@code com.microsoft MatMulBnb4(x, B, absmax)} with attributes {@code K} (= hidden) and
 * {@code N}: bitsandbytes' FP4/NF4 blocks (Optimum's bnb4 exports); any bias is an {@code Add} after it.
 */
final class Bnb4Projection implements ProjectionPattern {
    @Override
    public List<Projection> match(Use use, long hidden) {
        long out = Projections.packedWidth(use, "MatMulBnb4", hidden);
        if (out < 0) {
            return List.of();
        }
        Node n = use.node();
        return List.of(new Projection(n, n.input(1), false, Projections.biasAfter(n.output(0), out),
                Projection.Encoding.BNB4));
    }
}
