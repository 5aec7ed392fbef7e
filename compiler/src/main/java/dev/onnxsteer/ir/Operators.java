package dev.onnxsteer.ir;

import java.util.HashMap;
import java.util.Map;

/**
 * Signatures of the operators onnx-steer creates, checked when a node is built so a wrong arity
 * fails at compile time with the signature in the message, not inside ONNX Runtime.
 */
final class Operators {
    /** Inputs in [minInputs, maxInputs], outputs in [1, maxOutputs]. */
    record Signature(String op, int minInputs, int maxInputs, int maxOutputs) {
        @Override
        public String toString() {
            String in = minInputs == maxInputs ? Integer.toString(minInputs) : minInputs + ".." + maxInputs;
            return op + " takes " + in + " input(s) and gives at most " + maxOutputs + " output(s)";
        }
    }

    private static final Map<String, Signature> DEFAULT_DOMAIN = new HashMap<>();

    private static void op(String name, int min, int max, int outputs) {
        DEFAULT_DOMAIN.put(name, new Signature(name, min, max, outputs));
    }

    static {
        for (String binary : new String[] {"Add", "Sub", "Mul", "Div", "Pow", "MatMul", "Equal", "Less", "Greater",
                "LessOrEqual", "GreaterOrEqual", "And", "Or", "Gather", "Reshape", "Expand", "CumSum"}) {
            op(binary, 2, 2, 1);
        }
        for (String unary : new String[] {"Sqrt", "Reciprocal", "Neg", "Sigmoid", "Tanh", "Erf", "Cos", "Sin",
                "Not", "Identity", "Cast", "Shape", "Softmax", "Transpose", "Abs", "Relu", "ConstantOfShape",
                "Size", "Exp", "Log"}) {
            op(unary, 1, 1, 1);
        }
        op("Constant", 0, 0, 1);
        op("Where", 3, 3, 1);
        op("Range", 3, 3, 1);
        op("Gemm", 2, 3, 1);
        op("Slice", 3, 5, 1);
        op("Unsqueeze", 1, 2, 1);
        op("Squeeze", 1, 2, 1);
        op("ReduceMean", 1, 2, 1);
        op("ReduceSum", 1, 2, 1);
        op("ReduceSumSquare", 1, 2, 1);
        op("ReduceL2", 1, 2, 1);
        op("Concat", 1, Integer.MAX_VALUE, 1);
        op("Sum", 1, Integer.MAX_VALUE, 1);
        op("Max", 1, Integer.MAX_VALUE, 1);
        op("Min", 1, Integer.MAX_VALUE, 1);
        op("Split", 1, 2, Integer.MAX_VALUE);
        op("Clip", 1, 3, 1);
        op("Trilu", 1, 2, 1);
        op("LayerNormalization", 2, 3, 3);
        op("If", 1, 1, Integer.MAX_VALUE);
    }

    private Operators() {}

    static void check(String domain, String opType, int inputs, int outputs) {
        if (!domain.isEmpty() && !domain.equals("ai.onnx")) {
            return;
        }
        Signature signature = DEFAULT_DOMAIN.get(opType);
        if (signature == null) {
            return;
        }
        if (inputs < signature.minInputs || inputs > signature.maxInputs || outputs < 1 || outputs > signature.maxOutputs) {
            throw new IllegalArgumentException("cannot build " + opType + " with " + inputs + " input(s) and "
                    + outputs + " output(s): " + signature);
        }
    }
}
