package dev.onnxsteer.sites;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.List;

/**
 * {@code com.microsoft MatMulBnb4(x, B, absmax)} with attributes {@code K} (= hidden) and
 * {@code N}: bitsandbytes' FP4/NF4 blocks (Optimum's bnb4 exports); any bias is an {@code Add} after it.
 */
final class Bnb4Projection implements ProjectionPattern {
    @Override
    public List<Projection> match(Use use, long hidden) {
        Node n = use.node();
        if (use.index() != 0 || !n.opType().equals("MatMulBnb4") || !n.domain().equals(Projections.MS)) {
            return List.of();
        }
        long out = n.intAttribute("N", -1);
        Value packed = n.input(1);
        if (n.intAttribute("K", -1) != hidden || out <= 0 || packed == null || !packed.isInitializer()
                || packed.initializer().type() != DataType.UINT8) {
            return List.of();
        }
        return List.of(new Projection(n, packed, false, Projections.biasAfter(n.output(0), out),
                Projection.Encoding.BNB4));
    }
}
