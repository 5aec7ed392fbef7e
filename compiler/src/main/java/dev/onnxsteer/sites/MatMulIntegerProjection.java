package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.List;

/**
 * Dynamic int8 quantization (ONNX Runtime's {@code quantize_dynamic}, Optimum's
 * {@code model_quantized.onnx}): {@code (xq, xs, xz) = DynamicQuantizeLinear(x)} read by one
 * {@code MatMulInteger(xq, Wq, xz, wz)} per projection, whose product is {@code Cast} to float and
 * scaled by {@code Mul(xs * ws)} before any bias {@code Add}. The reader of {@code x} is the
 * DynamicQuantizeLinear; it is these projections only when every reader of its {@code xq} is one.
 */
final class MatMulIntegerProjection implements ProjectionPattern {
    /** Cast and scale between the integer product and the float bias Add. */
    private static final int SCALE_STEPS = 3;

    @Override
    public List<Projection> match(Use use, long hidden) {
        Node quantize = use.node();
        if (use.index() != 0 || !quantize.is("DynamicQuantizeLinear") || quantize.output(0).isGraphOutput()) {
            return List.of();
        }
        List<Projection> found = new ArrayList<>();
        for (Use read : Dataflow.valueReads(quantize.output(0))) {
            Node n = read.node();
            if (read.index() != 0 || !n.is("MatMulInteger") || !Projections.isQuantizedMatrix(n.input(1), hidden)) {
                return List.of();
            }
            Value w = n.input(1);
            found.add(new Projection(n, w, false, biasAfterScale(n.output(0), w.initializer().dim(1)),
                    Projection.Encoding.MATMUL_INTEGER));
        }
        return found;
    }

    /** The bias Add after the product's Cast and dequantizing Mul. */
    private static BiasSlot biasAfterScale(Value product, long out) {
        Value v = product;
        for (int i = 0; i < SCALE_STEPS && !v.isGraphOutput() && v.uses().size() == 1; i++) {
            Node next = v.uses().get(0).node();
            if (!next.is("Cast") && !next.is("Mul")) {
                break;
            }
            v = next.output(0);
        }
        return v == product ? null : Projections.biasAfter(v, out);
    }
}
