package dev.onnxsteer.session;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The cache inputs of a graph that ONNX Runtime can update in place: {@code past = GroupQueryAttention input 3
 * (past_key) or 4 (past_value)} whose {@code present} is the same node's output 1 or 2, a graph output. When the
 * past and present tensors of such a node are one buffer, ONNX Runtime's GroupQueryAttention writes the new keys
 * and values at each row's {@code seqlens_k} into it and reads nothing beyond (its past_present_share_buffer), so
 * one buffer allocated at the longest length can serve every step.
 *
 * <p>A past read by any other node as well is left out: that node would see the whole buffer (its shape, or
 * positions not written yet) instead of the past.
 */
final class InPlaceCache {
    private static final String DOMAIN = "com.microsoft";
    private static final String OP = "GroupQueryAttention";
    private static final int PAST_KEY = 3;
    private static final int PRESENT_KEY = 1;

    private InPlaceCache() {}

    /** Past input name to present output name, for every in-place pair of the main graph. */
    static Map<String, String> pairs(Model model) {
        Graph graph = model.graph();
        Map<String, String> pairs = new LinkedHashMap<>();
        for (Node node : graph.nodes()) {
            if (!node.opType().equals(OP) || !node.domain().equals(DOMAIN)) {
                continue;
            }
            for (int kv = 0; kv < 2; kv++) {
                Value past = node.input(PAST_KEY + kv);
                int presentIndex = PRESENT_KEY + kv;
                if (past == null || !past.isGraphInput() || past.isInitializer() || past.uses().size() != 1
                        || node.outputs().size() <= presentIndex) {
                    continue;
                }
                Use only = past.uses().get(0);
                Value present = node.output(presentIndex);
                if (only.node() == node && only.index() == PAST_KEY + kv && present.isGraphOutput()) {
                    pairs.put(past.name(), present.name());
                }
            }
        }
        return pairs;
    }
}
