package dev.onnxsteer.passes;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * What {@code onnx_steer.operations} records about edits of quantised weights: for an orthogonalisation, one
 * {@code requantisation} entry per requantised weight ({@code tensor}, {@code max_abs_error}, {@code
 * max_error_in_scale_steps}), so a reader of the compiled model can see how far the stored weights are from
 * the exact edit.
 */
final class QuantisedProvenance {
    private QuantisedProvenance() {}

    static void recordRequantisation(ObjectNode op, List<OrthogonalizePass.Rewritten> rewritten) {
        ArrayNode entries = null;
        for (OrthogonalizePass.Rewritten r : rewritten) {
            if (r.requantisation() == null) {
                continue;
            }
            if (entries == null) {
                entries = op.putArray("requantisation");
            }
            ObjectNode e = entries.addObject();
            e.put("tensor", r.tensor());
            e.put("max_abs_error", r.requantisation().maxAbs());
            e.put("max_error_in_scale_steps", r.requantisation().maxSteps());
        }
    }
}
