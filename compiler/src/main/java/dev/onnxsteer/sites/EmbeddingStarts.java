package dev.onnxsteer.sites;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Step 1 of discovery: where the residual stream begins. A token-embedding lookup (an initializer
 * table gathered with the input ids, float or quantized: {@link Layouts#embeddedRows}) plus any
 * position or token-type embedding, scaling or cast after it; or ONNX Runtime's fused
 * {@code EmbedLayerNormalization}.
 */
final class EmbeddingStarts {
    /**
     * The stream as it leaves an embedding: {@code resid0}, the table's width, and whether it is a
     * fused embedding's normalised output (a post-norm encoder: BERT).
     */
    record Start(Value resid0, long hidden, boolean fusedPostNorm) {}

    private EmbeddingStarts() {}

    /** Token-embedding Gathers and fused EmbedLayerNormalization nodes of {@code graph}, best first. */
    static List<Node> of(Graph graph) {
        List<Node> fused = new ArrayList<>();
        List<Node> gathers = new ArrayList<>();
        for (Node node : graph.nodes()) {
            if (Layouts.isEmbedLayerNorm(node)) {
                fused.add(node);
            } else if (tokenIds(node) != null) {
                gathers.add(node);
            }
        }
        gathers.sort(Comparator.comparing((Node n) -> !tokenIds(n).name().contains("input_ids"))
                .thenComparing(n -> -n.input(0).initializer().dim(0)));
        List<Node> all = new ArrayList<>(fused);
        all.addAll(gathers);
        return all;
    }

    /** Where the stream begins after {@code start}, one of {@link #of}. */
    static Start start(Node start, Graph scope, Dataflow flow) {
        if (start.opType().equals("EmbedLayerNormalization")) {
            Value words = start.input(2);
            long hidden = words != null && words.isInitializer() && words.initializer().rank() == 2
                    ? words.initializer().dim(1) : -1;
            Value sum = start.outputs().size() > 2 ? start.output(2) : null;
            boolean hasSum = sum != null && !sum.name().isEmpty() && sum.hasUses();
            Value stream = hasSum ? sum : start.output(0);
            return new Start(stream, hidden, stream == start.output(0));
        }
        return new Start(absorbEmbeddings(Layouts.embeddedRows(start), scope, flow), Layouts.embeddingWidth(start), false);
    }

    /** The integer graph input an embedding lookup ({@link Layouts#embeddedRows}) reads its indices from, else null. */
    static Value tokenIds(Node node) {
        if (node.is("Gather") && node.inputCount() != 2 || Layouts.embeddedRows(node) == null) {
            return null;
        }
        Value ids = node.input(1);
        for (int i = 0; i < 8 && ids != null && ids.producer() != null; i++) {
            Node p = ids.producer();
            if (!Layouts.ID_PASS_THROUGH.contains(p.opType()) || !p.domain().isEmpty()) {
                return null;
            }
            ids = p.input(0);
        }
        if (ids == null || !ids.isGraphInput() || ids.isInitializer()) {
            return null;
        }
        var type = ids.tensorType();
        return type == null || type.elementType() == DataType.INT64 || type.elementType() == DataType.INT32 ? ids : null;
    }

    /** Follows position/token-type embedding Adds, scaling and casts after the token Gather. */
    private static Value absorbEmbeddings(Value embedded, Graph scope, Dataflow flow) {
        Value e = embedded;
        for (int i = 0; i < 8; i++) {
            List<Use> uses = Dataflow.structuralUses(e, scope);
            if (uses.size() != 1 || uses.get(0).node().outputs().isEmpty()) {
                break;
            }
            Node n = uses.get(0).node();
            Value other = n.inputCount() == 2 ? n.input(1 - uses.get(0).index()) : null;
            boolean absorb = n.is("Cast") || n.is("Identity")
                    || n.is("Mul") && other != null && Constants.isConstant(other)
                    || n.is("Add") && other != null && other != e && !flow.dependsOn(other, e, scope);
            if (!absorb) {
                break;
            }
            e = n.output(0);
        }
        return e;
    }
}
