package dev.onnxsteer.parity;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a compiled model adds at each site, read back from the model itself: the added initializer
 * (add), the vector input's default times its coefficient (input), or the folded bias minus the
 * source model's bias (bias). Parity checks rebuild every other variant from these.
 *
 * @param steerings one per site, each carrying {@code c * v} with coefficient 1
 * @param mode      the mode the model was compiled with (AUTO when sites used different modes)
 * @param createBias whether a bias fold at a sublayer input gave bias-less projections a bias ({@code --create-bias})
 */
record RecoveredSteering(List<Steering> steerings, Mode mode, boolean createBias) {

    static RecoveredSteering from(Model steered, Model original, String steeredLabel) {
        List<Provenance.Operation> operations = Provenance.operations(steered);
        if (operations.isEmpty()) {
            throw new BadModelException(steeredLabel + " records no onnx_steer.operations; expected a model compiled "
                    + "by onnx-steer compile");
        }
        Map<String, Steering> bySite = new LinkedHashMap<>();
        List<String> modes = new ArrayList<>();
        boolean createBias = false;
        for (Provenance.Operation op : operations) {
            if (!op.op().equals("add")) {
                throw new BadModelException(steeredLabel + " records operation '" + op.op() + "'; parity checks cover add");
            }
            modes.add(op.mode());
            createBias |= op.createdBias();
            if (bySite.containsKey(op.site())) {
                continue;
            }
            float[] delta = switch (Mode.parse(op.mode())) {
                case ADD -> floats(steered, op.tensor(), steeredLabel);
                case INPUT -> scale(floats(steered, op.tensor(), steeredLabel),
                        floats(steered, op.coefficientTensor(), steeredLabel)[0]);
                // a fold at a sublayer input changed several biases by c*v*W; c*v itself is recorded
                case BIAS -> op.added() != null ? op.added() : minus(floats(steered, op.tensor(), steeredLabel),
                        floats(original, op.originalBias(), "the original model"));
                case AUTO -> throw new BadModelException(steeredLabel + " records mode auto; expected the resolved mode");
            };
            String[] site = op.site().split("\\.");
            bySite.put(op.site(), new Steering(SiteKind.parse(site[0]), Integer.parseInt(site[1]), delta, 1f));
        }
        Mode mode = modes.stream().distinct().count() == 1 ? Mode.parse(modes.get(0)) : Mode.AUTO;
        return new RecoveredSteering(List.copyOf(bySite.values()), mode, createBias);
    }

    /** The same sites and vectors with every coefficient set to {@code coefficient}. */
    List<Steering> withCoefficient(float coefficient) {
        return steerings.stream().map(s -> new Steering(s.kind(), s.layer(), s.vector(), coefficient)).toList();
    }

    private static float[] floats(Model model, String name, String label) {
        for (Graph graph : model.graph().allGraphs()) {
            for (Value init : graph.initializers()) {
                if (init.name().equals(name)) {
                    return init.initializer().toFloats();
                }
            }
        }
        throw new BadModelException(label + " has no initializer '" + name + "' named by its onnx_steer.operations");
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
