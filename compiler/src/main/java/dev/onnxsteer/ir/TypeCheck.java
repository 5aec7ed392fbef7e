package dev.onnxsteer.ir;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Element-type agreement for the default-domain ops rewrites emit: operands of arithmetic, comparison,
 * concatenation and Where agree; index and shape operands are integers; float-only math reads floats;
 * a declared output type equals what the op computes. Operands whose type the graph does not tell
 * ({@link ElementTypes} is empty) are not judged, so the check never refuses on a guess.
 */
public final class TypeCheck {
    /** One disagreement, at {@code node}. */
    public record Problem(Node node, String reason) {}

    private static final Set<String> ONE_TYPE = Set.of("Add", "Sub", "Mul", "Div", "MatMul", "Gemm", "Max", "Min",
            "Sum", "Mean", "Concat", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Range");
    private static final Set<String> LOGIC = Set.of("And", "Or", "Xor", "Not");
    private static final Set<String> FLOAT_MATH = Set.of("Sqrt", "Reciprocal", "Exp", "Log", "Erf", "Tanh",
            "Sigmoid", "Softmax", "Cos", "Sin");
    /** Ops whose inputs from index 1 on are int64 axes, shapes or repeats. */
    private static final Set<String> INT64_OPERANDS = Set.of("Unsqueeze", "Squeeze", "Reshape", "Expand",
            "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceMax", "ReduceMin", "Tile");
    private static final Set<DataType> FLOATS = Set.of(DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16,
            DataType.DOUBLE);
    private static final Set<DataType> INDICES = Set.of(DataType.INT32, DataType.INT64);

    private TypeCheck() {}

    /** Every problem among {@code nodes}, in their order; types are looked up across the whole model. */
    public static List<Problem> check(Collection<Node> nodes) {
        ElementTypes types = new ElementTypes();
        List<Problem> problems = new ArrayList<>();
        for (Node node : nodes) {
            String reason = problem(node, types);
            if (reason != null) {
                problems.add(new Problem(node, reason));
            }
        }
        return problems;
    }

    private static String problem(Node node, ElementTypes types) {
        if (!node.domain().isEmpty() && !node.domain().equals("ai.onnx")) {
            return null;
        }
        String op = node.opType();
        String operands = null;
        if (ONE_TYPE.contains(op)) {
            operands = agree(node, types, 0, node.inputCount());
        } else if (op.equals("Where")) {
            operands = node.inputCount() != 3 ? null : expect(node, types, 0, Set.of(DataType.BOOL), "bool");
            if (operands == null && node.inputCount() == 3) {
                operands = agree(node, types, 1, 3);
            }
        } else if (LOGIC.contains(op)) {
            for (int i = 0; i < node.inputCount() && operands == null; i++) {
                operands = expect(node, types, i, Set.of(DataType.BOOL), "bool");
            }
        } else if (FLOAT_MATH.contains(op)) {
            operands = expect(node, types, 0, FLOATS, "a floating-point type");
        } else if (op.equals("Gather")) {
            operands = expect(node, types, 1, INDICES, "int32 or int64 indices");
        } else if (op.equals("Slice")) {
            for (int i = 1; i < node.inputCount() && operands == null; i++) {
                operands = expect(node, types, i, INDICES, "int32 or int64");
            }
        } else if (INT64_OPERANDS.contains(op)) {
            for (int i = 1; i < node.inputCount() && operands == null; i++) {
                operands = expect(node, types, i, Set.of(DataType.INT64), "int64");
            }
        }
        return operands != null ? operands : declaredOutputs(node, types);
    }

    /** Inputs {@code from} (inclusive) to {@code to} (exclusive) share one element type. */
    private static String agree(Node node, ElementTypes types, int from, int to) {
        DataType first = null;
        int firstIndex = -1;
        for (int i = from; i < to; i++) {
            Optional<DataType> type = types.of(node.input(i));
            if (type.isEmpty()) {
                continue;
            }
            if (first == null) {
                first = type.get();
                firstIndex = i;
            } else if (type.get() != first) {
                return "input " + firstIndex + " (" + node.input(firstIndex).name() + ") is " + first.label()
                        + " but input " + i + " (" + node.input(i).name() + ") is " + type.get().label() + "; "
                        + node.opType() + " needs one element type";
            }
        }
        return null;
    }

    private static String expect(Node node, ElementTypes types, int index, Set<DataType> allowed, String what) {
        if (index >= node.inputCount()) {
            return null;
        }
        Optional<DataType> type = types.of(node.input(index));
        if (type.isPresent() && !allowed.contains(type.get())) {
            return "input " + index + " (" + node.input(index).name() + ") is " + type.get().label() + "; "
                    + node.opType() + " needs " + what + " there";
        }
        return null;
    }

    private static String declaredOutputs(Node node, ElementTypes types) {
        for (int i = 0; i < node.outputs().size(); i++) {
            Value output = node.output(i);
            ValueType.Tensor declared = output.tensorType();
            Optional<DataType> computed = types.inferred(node, i);
            if (declared != null && computed.isPresent() && declared.elementType() != computed.get()) {
                return "output " + output.name() + " is declared " + declared.elementType().label() + " but "
                        + node.opType() + " computes " + computed.get().label() + " from its inputs";
            }
        }
        return null;
    }
}
