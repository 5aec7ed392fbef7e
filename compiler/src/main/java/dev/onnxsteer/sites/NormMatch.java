package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Finds the normalisation of a residual value: a single-op norm ({@link Layouts#isNormOp}), a fused
 * skip or embedding norm's output 0, or a decomposed LayerNorm/RMSNorm, grown by one fixpoint
 * ({@link #grow}) over the ops of {@link Layouts#DECOMPOSED_NORM_OPS} whose inputs are the value,
 * values already inside, or constants.
 */
final class NormMatch {
    /** No decomposed norm has more nodes; the bound keeps the growth local in a graph of elementwise ops. */
    private static final int MAX_NODES = 48;

    /** A decomposed norm: its nodes and every value they and the start value make. */
    record Grown(Set<Node> nodes, Set<Value> values) {
        boolean reduces() {
            return nodes.stream().anyMatch(n -> n.opType().startsWith("Reduce"));
        }

        boolean divides() {
            return nodes.stream().anyMatch(n -> n.is("Sqrt") || n.is("Div") || n.is("Reciprocal"));
        }
    }

    private NormMatch() {}

    /**
     * The one fixpoint: grows a decomposed norm from {@code from} over the default-domain norm ops of
     * {@code scope} that {@code admit} accepts, adding a node once every input is inside or constant.
     */
    static Grown grow(Value from, Graph scope, Predicate<Node> admit) {
        Set<Node> nodes = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<Value> values = Collections.newSetFromMap(new IdentityHashMap<>());
        values.add(from);
        boolean changed = true;
        while (changed && nodes.size() < MAX_NODES) {
            changed = false;
            for (Value v : List.copyOf(values)) {
                for (Use use : Dataflow.structuralUses(v, scope)) {
                    Node n = use.node();
                    if (nodes.contains(n) || !n.domain().isEmpty() || !Layouts.DECOMPOSED_NORM_OPS.contains(n.opType())
                            || !admit.test(n)) {
                        continue;
                    }
                    if (n.inputs().stream().allMatch(in -> in == null || values.contains(in) || Constants.isConstant(in))) {
                        nodes.add(n);
                        values.addAll(n.outputs());
                        changed = true;
                    }
                }
            }
        }
        return new Grown(nodes, values);
    }

    /** Output 0 of the single-op norm that is the only reader of {@code s} among {@code uses}, else null. */
    private static Value normOpOutput(List<Use> uses) {
        if (uses.size() == 1 && uses.get(0).index() == 0 && Layouts.isNormOp(uses.get(0).node())) {
            return uses.get(0).node().output(0);
        }
        return null;
    }

    /**
     * The output of a normalisation that consumes all of {@code s}: a single-op norm, or a decomposed
     * LayerNorm/RMSNorm whose only value read outside it is its result. Null when s is also read by
     * anything else.
     */
    static Value closedNorm(Value s, Graph scope) {
        if (s == null) {
            return null;
        }
        List<Use> uses = Dataflow.structuralUses(s, scope);
        if (uses.isEmpty()) {
            return null;
        }
        Value single = normOpOutput(uses);
        if (single != null) {
            return single;
        }
        Grown norm = grow(s, scope, n -> true);
        if (!norm.reduces() || !norm.divides()) {
            return null;
        }
        List<Value> exits = new ArrayList<>();
        for (Value v : norm.values()) {
            boolean leaves = v.isGraphOutput()
                    || Dataflow.structuralUses(v, scope).stream().anyMatch(u -> !norm.nodes().contains(u.node()));
            if (leaves) {
                exits.add(v);
            }
        }
        return exits.size() == 1 && exits.get(0) != s ? exits.get(0) : null;
    }

    /**
     * The normalised copy of the residual {@code h} that the sublayer of {@code join} reads (pre-norm
     * layouts): output 0 of the fused SkipLayerNormalization / EmbedLayerNormalization whose residual
     * output is {@code h}; else the output of a single-op norm reading h; else the single value
     * leaving a decomposed LayerNorm/RMSNorm inside the sublayer. Null, with a note, when none is found.
     */
    static Value sublayerInput(Value h, Join join, Graph scope, String siteName, List<String> notes) {
        Node p = h.producer();
        if (p != null && p.domain().equals(Layouts.MS) && p.graph() == scope) {
            boolean skip = Layouts.isSkipNorm(p) && h.outputIndex() == 3;
            boolean embed = Layouts.isEmbedLayerNorm(p) && h.outputIndex() == 2;
            if (skip || embed) {
                Value normed = p.output(0);
                if (readIn(normed, join.region(), Set.of())) {
                    return normed;
                }
                notes.add(scope.name() + ": " + siteName + " is left out: output 0 of " + p
                        + " is not read by the sublayer after it");
                return null;
            }
        }
        List<Use> uses = Dataflow.structuralUses(h, scope).stream().filter(u -> u.node() != join.node()).toList();
        Value single = normOpOutput(uses);
        if (single != null && readIn(single, join.region(), Set.of())) {
            return single;
        }
        Grown norm = grow(h, scope, n -> n != join.node() && join.region().contains(n));
        List<Value> exits = norm.values().stream().filter(v -> v != h && readIn(v, join.region(), norm.nodes())).toList();
        if (norm.reduces() && exits.size() == 1) {
            return exits.get(0);
        }
        notes.add(scope.name() + ": " + siteName + " is left out: no single normalisation of " + h
                + " feeds the sublayer of " + join.node() + (norm.reduces() ? " (" + exits.size() + " values leave it)" : ""));
        return null;
    }

    /** Whether a node of {@code region} outside {@code except} reads {@code v}. */
    private static boolean readIn(Value v, Set<Node> region, Set<Node> except) {
        return v.uses().stream().anyMatch(u -> region.contains(u.node()) && !except.contains(u.node()));
    }
}
