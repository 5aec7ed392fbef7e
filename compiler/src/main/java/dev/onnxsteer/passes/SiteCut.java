package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;

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
     */
    public static Value replaceWithInput(Model model, Value value, String inputName) {
        requireMainGraph(model, value);
        Graph graph = model.graph();
        Value input = graph.addInput(inputName, value.type());
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
