package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.quant.RequantisationError;
import java.util.ArrayList;
import java.util.List;

/**
 * Orthogonalisation of the quantised residual writers (MatMulNBits, MatMulInteger, QDQ projections): each weight
 * is dequantised to float32, rewritten as {@code W - (W r) r^T} like a float one, and requantised in its own
 * scheme and block layout. Requantisation rounds, so the stored weight differs from the orthogonalised one; the
 * difference is reported per weight, and with {@code exact} any difference refuses the compilation.
 */
final class QuantisedOrthogonalize {
    /** A quantised weight writing into the stream, found by {@link OrthogonalizePass}'s walk. */
    record Writer(String role, QuantisedWeight weight) {}

    private QuantisedOrthogonalize() {}

    static List<OrthogonalizePass.Rewritten> apply(List<Writer> writers, double[] r, boolean exact) {
        List<OrthogonalizePass.Rewritten> done = new ArrayList<>();
        for (Writer writer : writers) {
            QuantisedWeight w = writer.weight();
            String name = w.codes().name();
            long[] dims = {w.inputs(), w.outputs()};
            float[] edited = OrthogonalizePass.orthogonalized(Tensor.ofFloats(dims, w.rows()),
                    OrthogonalizePass.Layout.ROWS, r).toFloats();
            RequantisationError error = w.write(edited);
            if (exact && !error.lossless()) {
                throw new IllegalArgumentException("--exact: requantising the orthogonalized " + writer.role() + " "
                        + name + " (" + w.node().opType() + ") changes it by up to " + error.describe()
                        + "; compile without --exact to accept the rounding, or orthogonalize a float32 model");
            }
            done.add(new OrthogonalizePass.Rewritten(writer.role(), name, w.codes().name(), error));
        }
        return done;
    }
}
