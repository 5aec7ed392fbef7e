package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a model looked like before rewrites, by identity, to tell afterwards which nodes they touched:
 * nodes added, nodes whose inputs were rewired, and nodes reading an initializer whose data changed
 * (a folded bias, an orthogonalised weight). Those are the nodes the compiler answers for.
 */
final class Touched {
    private final Map<Node, List<Value>> inputs = new IdentityHashMap<>();
    private final Map<Value, Tensor> initializers = new IdentityHashMap<>();

    private Touched() {}

    static Touched before(Model model) {
        Touched snapshot = new Touched();
        for (Graph graph : model.graph().allGraphs()) {
            for (Node node : graph.nodes()) {
                snapshot.inputs.put(node, new ArrayList<>(node.inputs()));
            }
            for (Value value : graph.initializers()) {
                snapshot.initializers.put(value, value.initializer());
            }
        }
        return snapshot;
    }

    /** The nodes of {@code model} (the same model, edited since {@link #before}) that rewrites touched. */
    List<Node> since(Model model) {
        List<Node> touched = new ArrayList<>();
        for (Graph graph : model.graph().allGraphs()) {
            for (Node node : graph.nodes()) {
                List<Value> old = inputs.get(node);
                if (old == null || !sameValues(old, node.inputs()) || readsChangedData(node)) {
                    touched.add(node);
                }
            }
        }
        return touched;
    }

    private boolean readsChangedData(Node node) {
        for (Value in : node.inputs()) {
            if (in != null && in.isInitializer() && initializers.containsKey(in) && initializers.get(in) != in.initializer()) {
                return true;
            }
        }
        return false;
    }

    private static boolean sameValues(List<Value> a, List<Value> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i) != b.get(i)) {
                return false;
            }
        }
        return true;
    }
}
