package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.List;

/**
 * {@code com.microsoft MatMulNBits(x, B, scales, zero_points?, g_idx?, bias?)} with attributes
 * {@code K} (= hidden) and {@code N}: the int4/int8 block-quantized projection of the
 * onnxruntime-genai model builder, Optimum's q4 exports and our own GGUF import. Its bias is the
 * optional input 5 ({@link Layouts#biasInput}), else an {@code Add} after it.
 */
final class MatMulNBitsProjection implements ProjectionPattern {
    @Override
    public List<Projection> match(Use use, long hidden) {
        long out = Projections.packedWidth(use, "MatMulNBits", hidden);
        if (out < 0) {
            return List.of();
        }
        Node n = use.node();
        int biasInput = Layouts.biasInput(n);
        Value bias = biasInput < 0 ? null : n.input(biasInput);
        BiasSlot slot = Projections.isVector(bias, out) ? new BiasSlot(n, biasInput, bias)
                : bias == null ? Projections.biasAfter(n.output(0), out) : null;
        return List.of(new Projection(n, n.input(1), false, slot, Projection.Encoding.MATMUL_NBITS));
    }
}
