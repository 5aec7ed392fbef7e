package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The dataflow questions discovery asks of a model's graphs: who reads a value, which nodes lie
 * between two values, where the stream leaves nodes onnx-steer inserted. Positions come from each
 * graph's one {@link Graph#topologicalOrder()}, computed once per graph: discovery does not edit.
 */
final class Dataflow {
    private final Map<Graph, Map<Node, Integer>> positions = new IdentityHashMap<>();

    /** Whether {@code node} reads values, not only their shape ({@code Shape}, {@code Size} do not). */
    static boolean readsValues(Node node) {
        return !node.is("Shape") && !node.is("Size");
    }

    /** Uses of {@code v} by nodes of any graph, leaving out shape queries. */
    static List<Use> valueReads(Value v) {
        return v.uses().stream().filter(u -> readsValues(u.node())).toList();
    }

    /** Uses of {@code v} by nodes of {@code scope}, leaving out shape queries. */
    static List<Use> structuralUses(Value v, Graph scope) {
        List<Use> uses = new ArrayList<>();
        for (Use use : v.uses()) {
            if (use.node().graph() == scope && readsValues(use.node())) {
                uses.add(use);
            }
        }
        return uses;
    }

    /** Whether {@code x} is computed from {@code h} (within {@code scope}). */
    boolean dependsOn(Value x, Value h, Graph scope) {
        return x.producer() != null && region(x, h, scope).contains(x.producer());
    }

    /**
     * The nodes of {@code scope} on a path from {@code h} (or a sibling output of h's producer, as
     * in SkipLayerNormalization, whose normed output feeds the sublayer) to {@code x}.
     */
    Set<Node> region(Value x, Value h, Graph scope) {
        Node start = h.producer();
        Map<Node, Integer> pos = positions(scope);
        int startPos = start != null && start.graph() == scope ? pos.getOrDefault(start, -1) : -1;
        Set<Node> ancestors = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<Node> touching = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Node> todo = new ArrayDeque<>();
        Node from = x.producer();
        if (from == null || from.graph() != scope || from == start) {
            return Set.of();
        }
        todo.add(from);
        while (!todo.isEmpty()) {
            Node n = todo.poll();
            if (!ancestors.add(n)) {
                continue;
            }
            for (Value in : n.inputs()) {
                if (in == null) {
                    continue;
                }
                Node p = in.producer();
                if (in == h || p != null && p == start) {
                    touching.add(n);
                    continue;
                }
                if (p == null || p.graph() != scope || pos.getOrDefault(p, -1) <= startPos) {
                    continue;
                }
                todo.add(p);
            }
        }
        List<Node> ordered = new ArrayList<>(ancestors);
        ordered.sort(Comparator.comparingInt(n -> pos.getOrDefault(n, Integer.MAX_VALUE)));
        Set<Node> reached = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node n : ordered) {
            boolean on = touching.contains(n)
                    || n.inputs().stream().anyMatch(in -> in != null && in.producer() != null && reached.contains(in.producer()));
            if (on) {
                reached.add(n);
            }
        }
        return reached;
    }

    private Map<Node, Integer> positions(Graph graph) {
        return positions.computeIfAbsent(graph, g -> {
            Map<Node, Integer> order = new IdentityHashMap<>();
            for (Node n : g.topologicalOrder()) {
                order.put(n, order.size());
            }
            return order;
        });
    }

    /**
     * In a model onnx-steer already compiled, the stream leaves a steered site through the nodes the
     * compiler inserted ({@code /onnx_steer/...}); the walk continues from the value those nodes hand
     * back to the model, so a compiled model can be inspected and compiled again. The site itself stays
     * the unsteered tensor.
     */
    static Value pastSteering(Value h, Graph scope) {
        List<Use> uses = structuralUses(h, scope);
        if (uses.isEmpty() || !uses.stream().allMatch(u -> isSteering(u.node()))) {
            return h;
        }
        Set<Node> region = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Node> todo = new ArrayDeque<>();
        uses.forEach(u -> todo.add(u.node()));
        List<Value> exits = new ArrayList<>();
        while (!todo.isEmpty()) {
            Node node = todo.poll();
            if (!region.add(node)) {
                continue;
            }
            for (Value out : node.outputs()) {
                boolean leaves = out.isGraphOutput();
                for (Use use : structuralUses(out, scope)) {
                    if (isSteering(use.node())) {
                        todo.add(use.node());
                    } else {
                        leaves = true;
                    }
                }
                if (leaves && !exits.contains(out)) {
                    exits.add(out);
                }
            }
        }
        return exits.size() == 1 ? exits.get(0) : h;
    }

    private static boolean isSteering(Node node) {
        return node.name().startsWith("/onnx_steer/");
    }
}
