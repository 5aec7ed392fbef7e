package dev.onnxsteer.sites;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.List;

/**
 * {@code com.microsoft MatMulNBits(x, B, scales, zero_points?, g_idx?, bias?)} with attributes
 * {@code K} (= hidden) and {@code N}: the int4/int8 block-quantized projection of the
 * onnxruntime-genai model builder, Optimum's q4 exports and our own GGUF import. Its bias is the
 * optional input 5 (ORT 1.17 and later), else an {@code Add} after it.
 */
final class MatMulNBitsProjection implements ProjectionPattern {
    @Override
    public List<Projection> match(Use use, long hidden) {
        Node n = use.node();
        if (use.index() != 0 || !n.opType().equals("MatMulNBits") || !n.domain().equals(Layouts.MS)) {
            return List.of();
        }
        long out = n.intAttribute("N", -1);
        Value packed = n.input(1);
        if (n.intAttribute("K", -1) != hidden || out <= 0 || packed == null || !packed.isInitializer()
                || packed.initializer().type() != DataType.UINT8) {
            return List.of();
        }
        int biasInput = Layouts.biasInput(n);
        Value bias = n.input(biasInput);
        BiasSlot slot = Projections.isVector(bias, out) ? new BiasSlot(n, biasInput, bias)
                : bias == null ? Projections.biasAfter(n.output(0), out) : null;
        return List.of(new Projection(n, packed, false, slot, Projection.Encoding.MATMUL_NBITS));
    }
}
