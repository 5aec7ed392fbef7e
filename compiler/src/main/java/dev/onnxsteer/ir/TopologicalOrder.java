package dev.onnxsteer.ir;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The one topological order of a graph's nodes ({@link Graph#topologicalOrder()},
 * {@link Graph#sortTopologically()}): Kahn's algorithm over the values each node reads, its
 * subgraphs' reads of enclosing values included, with the current order breaking ties so an order
 * that is already valid is kept.
 */
final class TopologicalOrder {
    private TopologicalOrder() {}

    /** Kahn's order of the {@code nodes} not on a cycle. */
    static List<Node> acyclicPart(List<Node> nodes) {
        Map<Value, Node> producers = new IdentityHashMap<>();
        for (Node node : nodes) {
            for (Value output : node.outputs()) {
                producers.put(output, node);
            }
        }
        Map<Node, Integer> position = new IdentityHashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            position.put(nodes.get(i), i);
        }
        Map<Node, List<Node>> dependents = new IdentityHashMap<>();
        Map<Node, Integer> pending = new IdentityHashMap<>();
        for (Node node : nodes) {
            Set<Node> deps = Collections.newSetFromMap(new IdentityHashMap<>());
            for (Value input : readsOf(node)) {
                Node producer = producers.get(input);
                if (producer != null && producer != node) {
                    deps.add(producer);
                }
            }
            pending.put(node, deps.size());
            for (Node dep : deps) {
                dependents.computeIfAbsent(dep, k -> new ArrayList<>()).add(node);
            }
        }
        java.util.PriorityQueue<Node> ready = new java.util.PriorityQueue<>((a, b) -> position.get(a) - position.get(b));
        for (Node node : nodes) {
            if (pending.get(node) == 0) {
                ready.add(node);
            }
        }
        List<Node> sorted = new ArrayList<>(nodes.size());
        while (!ready.isEmpty()) {
            Node node = ready.poll();
            sorted.add(node);
            for (Node dependent : dependents.getOrDefault(node, List.of())) {
                if (pending.merge(dependent, -1, Integer::sum) == 0) {
                    ready.add(dependent);
                }
            }
        }
        return sorted;
    }

    /** The {@code nodes} that {@code placed} (from {@link #acyclicPart}) lacks, the ones on cycles, in their order. */
    static List<Node> missing(List<Node> nodes, List<Node> placed) {
        Set<Node> in = Collections.newSetFromMap(new IdentityHashMap<>());
        in.addAll(placed);
        return nodes.stream().filter(n -> !in.contains(n)).toList();
    }

    /** Inputs of a node plus every value of an enclosing scope that its subgraphs read. */
    private static Set<Value> readsOf(Node node) {
        Set<Value> reads = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Node> todo = new ArrayDeque<>();
        todo.add(node);
        while (!todo.isEmpty()) {
            Node current = todo.poll();
            for (Value input : current.inputs()) {
                if (input != null) {
                    reads.add(input);
                }
            }
            for (Graph sub : current.subgraphs()) {
                todo.addAll(sub.nodes());
                reads.addAll(sub.outputs());
            }
        }
        return reads;
    }
}
