package dev.onnxsteer.parity;

import dev.onnxsteer.ir.Attribute;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import java.util.List;

/**
 * MatMulNBits nodes that quantise their activations to int8 ({@code accuracy_level} 4: ONNX Runtime's CPU kernel
 * rounds each block of the input to int8 with scale max|x| / 127 and multiplies in integers, as llama.cpp does).
 *
 * <h2>Where parity proves the rewrite, and what it bounds on the shipped graph</h2>
 * Rounding to int8 is discontinuous: two paths whose activations differ by an ulp (the steered graph and the
 * Java reference add the vector in a different order) can round an element to neighbouring codes, a whole step
 * max|x|/127 apart, and the layers after it amplify that. So the float bound does not hold on the shipped
 * graphs. The rewrite never touches {@code accuracy_level}, though, so it is proved on each graph's
 * float-activation twin (the same graph with {@code accuracy_level} 0): the twins E0 and A0 must agree within
 * the float tolerance, which a rewrite wrong by more than float rounding fails however large the int8 noise.
 * The shipped graphs are then only sanity-checked, by the triangle inequality |E - A| <= |E - E0| + |E0 - A0|
 * + |A0 - A|: within the float tolerance plus the int8 noise |E - E0| and |A0 - A| measured on the prompts.
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

    /**
     * A check on a model with {@code nodes} int8-activation MatMulNBits: passes when the float-activation twins
     * differ by at most {@code floatTolerance} (the proof, shown in the columns) and the shipped graphs by at most
     * that plus both sides' int8 noise (the sanity bound, in the detail). Without such nodes, the float check.
     */
    static ParityCheck compare(String name, int nodes, double shippedDiff, double twinDiff, double floatTolerance,
            double expectedNoise, double actualNoise, String detail) {
        if (nodes == 0) {
            return ParityCheck.compare(name, shippedDiff, floatTolerance, detail);
        }
        double sanityTolerance = floatTolerance + expectedNoise + actualNoise;
        boolean passed = twinDiff <= floatTolerance && shippedDiff <= sanityTolerance;
        return new ParityCheck(name, passed ? ParityCheck.Status.PASSED : ParityCheck.Status.FAILED, twinDiff,
                floatTolerance, detail + String.format("; int8 activations (accuracy_level %d on %d MatMulNBits): "
                        + "proved on the accuracy_level 0 twins, %s %s the float tolerance %.3g; shipped graphs "
                        + "differ by %s, %s %.3g (float tolerance + int8 noise %.3g + %.3g)", LEVEL, nodes, figure(twinDiff),
                        twinDiff <= floatTolerance ? "within" : "over", floatTolerance, figure(shippedDiff),
                        shippedDiff <= sanityTolerance ? "within" : "over", sanityTolerance, expectedNoise, actualNoise));
    }

    /** 0 for an exact match, else three significant digits. */
    private static String figure(double diff) {
        return diff == 0 ? "0" : String.format("%.3g", diff);
    }

    /** {@link #compare} of two paths over the same prompts. */
    static ParityCheck compare(String name, int nodes, Twinned expected, Twinned actual, double floatTolerance,
            String detail) {
        return compare(name, nodes, ReferenceOps.maxDiff(expected.shipped(), actual.shipped()),
                ReferenceOps.maxDiff(expected.floatActivations(), actual.floatActivations()), floatTolerance,
                expected.int8Noise(), actual.int8Noise(), detail);
    }
}
