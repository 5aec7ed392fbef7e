package dev.onnxsteer.ir;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The element type of a value, as far as the graph tells it: the declared type, the initializer's,
 * or, for the default-domain ops whose output type follows from their inputs or attributes, the type
 * inferred from the producer. Exporters often declare no types for intermediate values, so this is how
 * a rewrite learns that a site is float16. Empty when the producer is an op this table does not know.
 * Results are memoised; build a new instance after editing the graph.
 */
public final class ElementTypes {
    /** Ops whose output 0 (every output for Split) has the element type of input 0. */
    private static final Set<String> LIKE_FIRST_INPUT = Set.of("Add", "Sub", "Mul", "Div", "Pow", "MatMul", "Gemm",
            "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Erf", "Tanh", "Sigmoid", "Relu", "Cos", "Sin", "Softmax",
            "Transpose", "Reshape", "Expand", "Unsqueeze", "Squeeze", "Slice", "Gather", "Identity", "ReduceMean",
            "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceMax", "ReduceMin", "Concat", "Max", "Min", "Sum", "Clip",
            "Split", "CumSum", "Trilu", "LayerNormalization", "Range", "Tile", "Pad", "Flatten", "GatherElements",
            "Softplus", "HardSigmoid", "LeakyRelu", "Gelu");
    private static final Set<String> BOOLEAN = Set.of("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
            "And", "Or", "Not", "Xor", "IsNaN", "IsInf");

    /**
     * ONNX Runtime's fused ops (com.microsoft, and SimplifiedLayerNormalization in the default domain) whose
     * listed outputs have the element type of input 0: the skip norms' output 0 and residual sum (output 3),
     * attention's output and present key/value, quantised MatMuls' product (their float input's type).
     */
    private static final Map<String, Set<Integer>> FUSED_LIKE_FIRST_INPUT = Map.ofEntries(
            Map.entry("SkipSimplifiedLayerNormalization", Set.of(0, 3)), Map.entry("SkipLayerNormalization", Set.of(0, 3)),
            Map.entry("SimplifiedLayerNormalization", Set.of(0)), Map.entry("MatMulNBits", Set.of(0)),
            Map.entry("MatMulBnb4", Set.of(0)), Map.entry("RotaryEmbedding", Set.of(0)),
            Map.entry("GroupQueryAttention", Set.of(0, 1, 2)), Map.entry("MultiHeadAttention", Set.of(0)),
            Map.entry("Attention", Set.of(0)), Map.entry("FastGelu", Set.of(0)), Map.entry("BiasGelu", Set.of(0)));

    private final Map<Value, Optional<DataType>> known = new IdentityHashMap<>();

    public Optional<DataType> of(Value value) {
        if (value == null) {
            return Optional.empty();
        }
        Optional<DataType> cached = known.get(value);
        if (cached != null) {
            return cached;
        }
        // seed before recursing so a cycle through an If's outer scope cannot loop
        known.put(value, Optional.empty());
        Optional<DataType> type = compute(value);
        known.put(value, type);
        return type;
    }

    private Optional<DataType> compute(Value value) {
        if (value.isInitializer()) {
            return Optional.of(value.initializer().type());
        }
        Node producer = value.producer();
        Optional<DataType> inferred = producer == null ? Optional.empty() : inferred(producer, value.outputIndex());
        if (inferred.isPresent()) {
            return inferred;
        }
        ValueType.Tensor declared = value.tensorType();
        return declared == null ? Optional.empty() : Optional.of(declared.elementType());
    }

    /** What the op computes, independent of what the value declares (so a wrong declaration can be caught). */
    public Optional<DataType> inferred(Node node, int output) {
        boolean msDomain = node.domain().equals("com.microsoft");
        Set<Integer> fused = FUSED_LIKE_FIRST_INPUT.get(node.opType());
        if ((msDomain || node.domain().isEmpty()) && fused != null && fused.contains(output) && node.inputCount() > 0
                && (msDomain || node.opType().equals("SimplifiedLayerNormalization"))) {
            return of(node.input(0));
        }
        if (!node.domain().isEmpty() && !node.domain().equals("ai.onnx")) {
            return Optional.empty();
        }
        String op = node.opType();
        if (op.equals("Cast")) {
            long to = node.intAttribute("to", -1);
            return to < 0 ? Optional.empty() : Optional.of(DataType.fromCode((int) to));
        }
        if (op.equals("Shape") || op.equals("Size")) {
            return Optional.of(DataType.INT64);
        }
        if (BOOLEAN.contains(op)) {
            return Optional.of(DataType.BOOL);
        }
        if (op.equals("Constant") || op.equals("ConstantOfShape")) {
            Optional<Attribute> v = node.attribute("value");
            if (v.isPresent() && v.get() instanceof Attribute.TensorAttr t) {
                return Optional.of(t.value().type());
            }
            return op.equals("ConstantOfShape") ? Optional.of(DataType.FLOAT) : Optional.empty();
        }
        if (op.equals("Where")) {
            return node.inputCount() == 3 ? of(node.input(1)) : Optional.empty();
        }
        if (output == 0 || op.equals("Split")) {
            if (LIKE_FIRST_INPUT.contains(op) && node.inputCount() > 0) {
                return of(node.input(0));
            }
        }
        return Optional.empty();
    }
}
