package dev.onnxsteer.parity;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a compiled model does at each site, read back from the model itself: the added initializer
 * (add), the vector input's default times its coefficient (input), the bank's row 0 times the
 * default scale (bank), the folded bias minus the source model's bias (bias; at a sublayer input,
 * where several biases changed by {@code c*v*W}, the recorded {@code c*v}), the unit direction
 * and clamp target (ablate, clamp), or for orthogonalize the direction recovered from the
 * difference between a rewritten weight and the original. Parity checks rebuild every other
 * variant from these.
 *
 * @param steerings one per site: for add and ablate-add {@code c * v} with coefficient 1, for ablate
 *                  the unit direction, for clamp the unit direction with the clamp value as
 *                  coefficient, for orthogonalize the direction at {@code resid_pre.0}
 * @param mode      the mode the model was compiled with (AUTO when sites used different modes)
 * @param options   the operation, positions, norm preservation, and whether a bias fold at a sublayer
 *                  input gave bias-less projections a bias ({@code --create-bias})
 */
record RecoveredSteering(List<Steering> steerings, Mode mode, SteerOptions options) {

    static RecoveredSteering from(Model steered, Model original, String steeredLabel) {
        List<Provenance.Operation> operations = Provenance.operations(steered);
        if (operations.isEmpty()) {
            throw new BadModelException(steeredLabel + " records no onnx_steer.operations; expected a model compiled "
                    + "by onnx-steer compile");
        }
        Provenance.Operation first = operations.get(0);
        for (Provenance.Operation op : operations) {
            if (!op.op().equals(first.op()) || !op.positions().equals(first.positions())
                    || op.preserveNorm() != first.preserveNorm() || op.bank() != first.bank()) {
                throw new BadModelException(steeredLabel + " records different operations (" + first.op() + " "
                        + first.positions() + " and " + op.op() + " " + op.positions() + "); parity checks cover models "
                        + "compiled with one operation");
            }
        }
        SteerOp kind = SteerOp.parse(first.op());
        boolean createBias = operations.stream().anyMatch(Provenance.Operation::createdBias);
        SteerOptions options = new SteerOptions(kind, Positions.parse(first.positions()), first.preserveNorm(),
                first.bank(), createBias);
        if (kind == SteerOp.ORTHOGONALIZE) {
            float[] direction = orthogonalizedDirection(steered, original, first, steeredLabel);
            return new RecoveredSteering(List.of(new Steering(SiteKind.RESID_PRE, 0, direction, 1f)), Mode.ADD, options);
        }
        Map<String, Steering> bySite = new LinkedHashMap<>();
        List<String> modes = new ArrayList<>();
        for (Provenance.Operation op : operations) {
            modes.add(op.mode());
            if (bySite.containsKey(op.site())) {
                continue;
            }
            String[] site = op.site().split("\\.");
            float[][] recovered = switch (Mode.parse(op.mode())) {
                case ADD -> constant(steered, op, kind, steeredLabel);
                case INPUT -> input(steered, op, kind, steeredLabel);
                // a fold at a sublayer input changed several biases by c*v*W; c*v itself is recorded
                case BIAS -> new float[][] {op.added() != null ? op.added() : minus(floats(steered, op.tensor(),
                        steeredLabel), floats(original, op.originalBias(), "the original model")), {1f}};
                case AUTO -> throw new BadModelException(steeredLabel + " records mode auto; expected the resolved mode");
            };
            bySite.put(op.site(), new Steering(SiteKind.parse(site[0]), Integer.parseInt(site[1]), recovered[0],
                    recovered[1][0]));
        }
        Mode mode = modes.stream().distinct().count() == 1 ? Mode.parse(modes.get(0)) : Mode.AUTO;
        return new RecoveredSteering(List.copyOf(bySite.values()), mode, options);
    }

    /** {vector, {coefficient}} from constant operands. */
    private static float[][] constant(Model steered, Provenance.Operation op, SteerOp kind, String label) {
        return switch (kind) {
            case ADD, ABLATE_ADD -> new float[][] {floats(steered, op.tensor(), label), {1f}};
            case ABLATE -> new float[][] {floats(steered, op.directionTensor(), label), {1f}};
            case CLAMP -> {
                float[] r = floats(steered, op.directionTensor(), label);
                yield new float[][] {r, {(float) dot(floats(steered, op.tensor(), label), r)}};
            }
            case ORTHOGONALIZE -> throw new IllegalStateException("handled by the caller");
        };
    }

    /** {vector, {coefficient}} from the defaults of vector and coefficient inputs, or of a bank. */
    private static float[][] input(Model steered, Provenance.Operation op, SteerOp kind, String label) {
        float[] vector = floats(steered, op.tensor(), label);
        if (op.bank()) {
            vector = java.util.Arrays.copyOf(vector, vector.length / (int) rows(steered, op.tensor()));
        }
        float coefficient = floats(steered, op.coefficientTensor(), label)[0];
        return switch (kind) {
            case ADD, ABLATE_ADD -> new float[][] {scale(vector, coefficient), {1f}};
            case ABLATE -> new float[][] {unit(vector), {1f}};
            case CLAMP -> new float[][] {unit(vector), {coefficient}};
            case ORTHOGONALIZE -> throw new IllegalStateException("handled by the caller");
        };
    }

    /** The direction an orthogonalisation removed: the largest row of (original - rewritten) of its first weight. */
    private static float[] orthogonalizedDirection(Model steered, Model original, Provenance.Operation op, String label) {
        if (op.tensors().isEmpty()) {
            throw new BadModelException(label + " records an orthogonalize operation without rewritten weights");
        }
        Tensor after = tensor(steered, op.tensors().get(0), label);
        float[] before = floats(original, op.originalTensors().get(0), "the original model");
        float[] now = after.toFloats();
        int hidden = (int) after.dim(after.rank() - 1);
        double best = -1;
        float[] direction = null;
        for (int row = 0; row < now.length / hidden; row++) {
            float[] d = new float[hidden];
            for (int j = 0; j < hidden; j++) {
                d[j] = before[row * hidden + j] - now[row * hidden + j];
            }
            double n = Math.sqrt(dot(d, d));
            if (n > best) {
                best = n;
                direction = d;
            }
        }
        if (direction == null || best == 0) {
            throw new BadModelException(label + ": the rewritten weight " + op.tensors().get(0)
                    + " equals the original; cannot recover the orthogonalised direction");
        }
        return unit(direction);
    }

    /** The same sites and vectors with every coefficient set to {@code coefficient}. */
    List<Steering> withCoefficient(float coefficient) {
        return steerings.stream().map(s -> new Steering(s.kind(), s.layer(), s.vector(), coefficient)).toList();
    }

    private static long rows(Model model, String name) {
        for (Graph graph : model.graph().allGraphs()) {
            for (Value init : graph.initializers()) {
                if (init.name().equals(name)) {
                    return init.initializer().dim(0);
                }
            }
        }
        return 1;
    }

    private static Tensor tensor(Model model, String name, String label) {
        for (Graph graph : model.graph().allGraphs()) {
            for (Value init : graph.initializers()) {
                if (init.name().equals(name)) {
                    return init.initializer();
                }
            }
        }
        throw new BadModelException(label + " has no initializer '" + name + "' named by its onnx_steer.operations");
    }

    private static float[] floats(Model model, String name, String label) {
        if (name == null) {
            throw new BadModelException(label + ": its onnx_steer.operations lack a tensor name the operation needs");
        }
        return tensor(model, name, label).toFloats();
    }

    static double dot(float[] a, float[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += (double) a[i] * b[i];
        }
        return sum;
    }

    static float[] unit(float[] v) {
        double n = Math.sqrt(dot(v, v));
        float[] out = new float[v.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (v[i] / n);
        }
        return out;
    }

    private static float[] scale(float[] values, float factor) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = values[i] * factor;
        }
        return out;
    }

    private static float[] minus(float[] a, float[] b) {
        float[] out = new float[a.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = a[i] - b[i];
        }
        return out;
    }
}
