package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;

/**
 * Cuts a model at a tensor, for checks that must not trust the rewrite under test: the prefix
 * returns the tensor as an extra output; the suffix takes it as a new graph input. Between the two
 * a caller can change the tensor in plain Java, an independent path to what a steered graph does.
 */
public final class SiteCut {
    private SiteCut() {}

    /** Makes {@code value} (of the main graph) an extra model output; returns the output's name. */
    public static String exposeAsOutput(Model model, Value value) {
        requireMainGraph(model, value);
        if (!value.isGraphOutput()) {
            model.graph().addOutput(value);
        }
        return value.name();
    }

    /**
     * Makes every reader of {@code value} read a new graph input named {@code inputName} instead,
     * then removes what only fed {@code value}. Graph outputs that were {@code value} now return the input.
     *
     * @param typeIfUndeclared the input's type when the model declares none for {@code value}
     */
    public static Value replaceWithInput(Model model, Value value, String inputName, ValueType typeIfUndeclared) {
        requireMainGraph(model, value);
        Graph graph = model.graph();
        if (FusedNorms.isEmbedLayerNormSum(value)) {
            throw new IllegalArgumentException(value + " is the embedding sum inside a fused EmbedLayerNormalization; "
                    + "it cannot be cut without re-deriving the embedding lookups");
        }
        Value input = graph.addInput(inputName, value.type() != null ? value.type() : typeIfUndeclared);
        if (FusedNorms.isSkipNormSum(value)) {
            // the fused node also normalises the sum; fed the input alone it normalises what the caller put there
            Node fused = value.producer();
            FusedNorms.computeFrom(graph, fused, input, fused.name() + "/onnx_steer_cut/");
        }
        for (Use use : value.uses()) {
            use.node().setInput(use.index(), input);
        }
        for (int i = 0; i < graph.outputs().size(); i++) {
            if (graph.outputs().get(i) == value) {
                graph.setOutput(i, input);
            }
        }
        graph.removeDeadNodes();
        return input;
    }

    private static void requireMainGraph(Model model, Value value) {
        if (value.graph() != model.graph()) {
            throw new IllegalArgumentException(value + " is inside " + value.graph()
                    + "; only tensors of the main graph can be cut (merged decoders steer inside If branches)");
        }
    }
}
