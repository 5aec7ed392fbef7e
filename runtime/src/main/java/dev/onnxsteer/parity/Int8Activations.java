package dev.onnxsteer.parity;

import dev.onnxsteer.ir.Attribute;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import java.util.List;

/**
 * MatMulNBits nodes that quantise their activations to int8 ({@code accuracy_level} 4: ONNX Runtime's CPU kernel
 * rounds each block of the input to int8 with scale max|x| / 127 and multiplies in integers, as llama.cpp does).
 *
 * <h2>Why parity widens its tolerance there, and by how much</h2>
 * Rounding to int8 is discontinuous: two paths whose activations differ by an ulp (the steered graph and the
 * Java reference add the vector in a different order) can round an element to neighbouring codes, a whole step
 * max|x|/127 apart, and the layers after it amplify that. So the float bound no longer holds, and no fixed
 * factor would be honest. What does hold is the triangle inequality through each graph's float-activation twin
 * (the same graph with {@code accuracy_level} 0): |E - A| <= |E - E0| + |E0 - A0| + |A0 - A|. |E0 - A0| is the
 * float check the rewrite must pass; |E - E0| and |A0 - A| are how far int8 activations move each path's
 * logits, measured on the prompts by running the twin. The tolerance is the float one plus those two
 * measurements: a rewrite that is right passes, and one that is wrong by more than the int8 noise fails.
 */
final class Int8Activations {
    /** The {@code accuracy_level} at which ONNX Runtime quantises MatMulNBits activations to int8. */
    static final long LEVEL = 4;

    private Int8Activations() {}

    /** How many MatMulNBits nodes in the model (subgraphs included) have {@code accuracy_level} 4. */
    static int nodes(Model model) {
        return quantising(model).size();
    }

    /** Sets {@code accuracy_level} 0 (float32 activations) on every such node, in place: the model's float-activation twin. */
    static void useFloatActivations(Model model) {
        for (Node node : quantising(model)) {
            node.setAttribute("accuracy_level", new Attribute.IntAttr(0));
        }
    }

    private static List<Node> quantising(Model model) {
        return model.graph().allGraphs().stream().flatMap(g -> g.nodes().stream())
                .filter(n -> n.opType().equals("MatMulNBits") && n.intAttribute("accuracy_level", 0) == LEVEL)
                .toList();
    }

    /** The line a check adds to its detail when its tolerance includes the measured int8 noise of both sides. */
    static String detail(int nodes, double expectedNoise, double actualNoise) {
        return String.format("; int8 activations (accuracy_level %d on %d MatMulNBits): tolerance includes %.3g + %.3g, "
                + "how far int8 rounding moves each side's logits from its own graph at accuracy_level 0 "
                + "(float tolerance + both, by the triangle inequality)", LEVEL, nodes, expectedNoise, actualNoise);
    }
}
