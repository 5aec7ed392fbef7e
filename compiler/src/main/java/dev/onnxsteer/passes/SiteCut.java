package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;

/**
 * Cuts a model at a tensor, for checks that must not trust the rewrite under test: the prefix
 * returns the tensor as an extra output ({@link #exposing}); the suffix takes it as a new graph input
 * ({@link #toInput}). Between the two a caller can change the tensor in plain Java, an independent
 * path to what a steered graph does.
 */
public final class SiteCut implements Pass {
    private final Value value;
    private final String inputName;
    private final ValueType typeIfUndeclared;
    private Value input;

    private SiteCut(Value value, String inputName, ValueType typeIfUndeclared) {
        this.value = value;
        this.inputName = inputName;
        this.typeIfUndeclared = typeIfUndeclared;
    }

    /** A pass making {@code value} (of the main graph) an extra model output. */
    public static SiteCut exposing(Value value) {
        return new SiteCut(value, null, null);
    }

    /**
     * A pass making every reader of {@code value} read a new graph input named {@code inputName} instead,
     * then removing what only fed {@code value}. Graph outputs that were {@code value} then return the input.
     *
     * @param typeIfUndeclared the input's type when the model declares none for {@code value}
     */
    public static SiteCut toInput(Value value, String inputName, ValueType typeIfUndeclared) {
        return new SiteCut(value, inputName, typeIfUndeclared);
    }

    /** Makes {@code value} (of the main graph) an extra model output; returns the output's name. */
    public static String exposeAsOutput(Model model, Value value) {
        exposing(value).run(model);
        return value.name();
    }

    /** As {@link #toInput}, run on {@code model}; returns the new input. */
    public static Value replaceWithInput(Model model, Value value, String inputName, ValueType typeIfUndeclared) {
        SiteCut cut = toInput(value, inputName, typeIfUndeclared);
        cut.run(model);
        return cut.input();
    }

    /** The input a {@link #toInput} cut made, once it ran. */
    public Value input() {
        return input;
    }

    @Override
    public PassResult run(Model model) {
        requireMainGraph(model, value);
        if (inputName == null) {
            if (value.isGraphOutput()) {
                return PassResult.unchanged(value + " is already an output");
            }
            model.graph().addOutput(value);
            return PassResult.changed(value + " is now an output");
        }
        Graph graph = model.graph();
        if (FusedNorms.isEmbedLayerNormSum(value)) {
            throw new IllegalArgumentException(value + " is the embedding sum inside a fused EmbedLayerNormalization; "
                    + "it cannot be cut without re-deriving the embedding lookups");
        }
        input = graph.addInput(inputName, value.type() != null ? value.type() : typeIfUndeclared);
        if (FusedNorms.isSkipNormSum(value)) {
            // the fused node also normalises the sum; fed the input alone it normalises what the caller put there
            Node fused = value.producer();
            FusedNorms.computeFrom(graph, fused, input, fused.name() + "/onnx_steer_cut/");
        }
        value.replaceAllUsesWith(input, true);
        int removed = graph.removeDeadNodes();
        return PassResult.changed("readers of " + value + " read input " + inputName + "; " + removed
                + " nodes that only fed it removed");
    }

    private static void requireMainGraph(Model model, Value value) {
        if (value.graph() != model.graph()) {
            throw new IllegalArgumentException(value + " is inside " + value.graph()
                    + "; only tensors of the main graph can be cut (merged decoders steer inside If branches)");
        }
    }
}
