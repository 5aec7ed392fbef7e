package dev.onnxsteer.generate;

import dev.onnxsteer.proto.AttributeProto;
import dev.onnxsteer.proto.GraphProto;
import dev.onnxsteer.proto.ModelProto;
import dev.onnxsteer.proto.NodeProto;
import dev.onnxsteer.proto.OperatorSetIdProto;
import dev.onnxsteer.proto.TensorProto;
import dev.onnxsteer.proto.TensorShapeProto;
import dev.onnxsteer.proto.TypeProto;
import dev.onnxsteer.proto.ValueInfoProto;
import java.util.List;

/**
 * Two tiny decoder graphs with the same weights, built here so the Optimum and no-cache layouts
 * are tested without downloads: token + position embeddings, one "attention" that adds the
 * mask-weighted sum of every cached key to each position, tanh, and a vocabulary projection.
 * {@link #optimum()} has int64 {@code input_ids}, {@code attention_mask}, {@code position_ids}
 * and {@code past_key_values.0.key/value} {@code [batch, 2, past, 4]} to {@code logits},
 * {@code present.0.key/value}; {@link #noCache()} computes the same logits from the whole sequence.
 */
final class TinyKvModels {
    static final int VOCAB = 16;
    static final int HIDDEN = 8;
    static final int MAX_POSITIONS = 32;
    private static final int FLOAT = 1;
    private static final int INT64 = 7;

    private TinyKvModels() {}

    static byte[] optimum() {
        return build(true);
    }

    static byte[] noCache() {
        return build(false);
    }

    /**
     * {@link #noCache()} plus a required graph input {@code steer} [8] added to the hidden state
     * before tanh, as a steering vector fed per run. (ONNX Runtime's Java API refuses to feed an
     * input that has an initializer default: it only accepts the required inputs.)
     */
    static byte[] noCacheWithSteeringInput() {
        ModelProto model;
        try {
            model = ModelProto.parseFrom(build(false));
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
        GraphProto.Builder graph = model.getGraph().toBuilder();
        graph.addInput(value("steer", FLOAT, (long) HIDDEN));
        for (int i = 0; i < graph.getNodeCount(); i++) {
            if (graph.getNode(i).getOpType().equals("Tanh")) {
                graph.setNode(i, graph.getNode(i).toBuilder().setInput(0, "steered"));
            }
        }
        graph.addNode(node("Add", List.of("h", "steer"), "steered"));
        // keep topological order: move Tanh and MatMul after the new Add
        List<NodeProto> nodes = new java.util.ArrayList<>(graph.getNodeList());
        NodeProto add = nodes.remove(nodes.size() - 1);
        int tanh = 0;
        while (!nodes.get(tanh).getOpType().equals("Tanh")) {
            tanh++;
        }
        nodes.add(tanh, add);
        graph.clearNode().addAllNode(nodes);
        return model.toBuilder().setGraph(graph).build().toByteArray();
    }

    private static byte[] build(boolean cache) {
        GraphProto.Builder graph = GraphProto.newBuilder().setName(cache ? "tiny_optimum" : "tiny_no_cache");
        graph.addInput(value("input_ids", INT64, "batch", "seq"));
        graph.addInput(value("attention_mask", INT64, "batch", "total"));
        graph.addInput(value("position_ids", INT64, "batch", "seq"));
        if (cache) {
            graph.addInput(value("past_key_values.0.key", FLOAT, "batch", 2L, "past", 4L));
            graph.addInput(value("past_key_values.0.value", FLOAT, "batch", 2L, "past", 4L));
        }
        graph.addInitializer(floats("E", VOCAB, HIDDEN, 0.7));
        graph.addInitializer(floats("P", MAX_POSITIONS, HIDDEN, 1.3));
        graph.addInitializer(floats("W", HIDDEN, VOCAB, 2.1));
        graph.addInitializer(longs("shape4", 0, 0, 2, 4));
        graph.addInitializer(longs("shape3", 0, 1, HIDDEN));
        graph.addInitializer(longs("axes13", 1, 3));
        graph.addInitializer(longs("axis2", 2));
        graph.addNode(node("Gather", List.of("E", "input_ids"), "emb"));
        graph.addNode(node("Gather", List.of("P", "position_ids"), "pos"));
        graph.addNode(node("Add", List.of("emb", "pos"), "x"));
        graph.addNode(node("Reshape", List.of("x", "shape4"), "k4"));
        graph.addNode(node("Transpose", List.of("k4"), "k").addAttribute(ints("perm", 0, 2, 1, 3)));
        graph.addNode(node("Neg", List.of("k"), "v"));
        String keys = "k";
        if (cache) {
            graph.addNode(node("Concat", List.of("past_key_values.0.key", "k"), "present.0.key")
                    .addAttribute(AttributeProto.newBuilder().setName("axis").setType(AttributeProto.AttributeType.INT).setI(2)));
            graph.addNode(node("Concat", List.of("past_key_values.0.value", "v"), "present.0.value")
                    .addAttribute(AttributeProto.newBuilder().setName("axis").setType(AttributeProto.AttributeType.INT).setI(2)));
            graph.addNode(node("Neg", List.of("present.0.value"), "values_back"));
            graph.addNode(node("Add", List.of("present.0.key", "values_back"), "keys_twice"));
            keys = "keys_twice";
        }
        graph.addNode(node("Cast", List.of("attention_mask"), "maskf")
                .addAttribute(AttributeProto.newBuilder().setName("to").setType(AttributeProto.AttributeType.INT).setI(FLOAT)));
        graph.addNode(node("Unsqueeze", List.of("maskf", "axes13"), "mask4"));
        graph.addNode(node("Mul", List.of(keys, "mask4"), "weighted"));
        graph.addNode(node("ReduceSum", List.of("weighted", "axis2"), "ctx"));
        graph.addNode(node("Transpose", List.of("ctx"), "ctx2").addAttribute(ints("perm", 0, 2, 1, 3)));
        graph.addNode(node("Reshape", List.of("ctx2", "shape3"), "ctx3"));
        if (!cache) {
            // the cached graph sums keys and negated values back, i.e. every key twice
            graph.addInitializer(TensorProto.newBuilder().setName("two").setDataType(FLOAT).addFloatData(2f));
            graph.addNode(node("Mul", List.of("ctx3", "two"), "ctx3x2"));
        }
        graph.addNode(node("Add", List.of("x", cache ? "ctx3" : "ctx3x2"), "h"));
        graph.addNode(node("Tanh", List.of("h"), "t"));
        graph.addNode(node("MatMul", List.of("t", "W"), "logits"));
        graph.addOutput(value("logits", FLOAT, "batch", "seq", (long) VOCAB));
        if (cache) {
            graph.addOutput(value("present.0.key", FLOAT, "batch", 2L, "total", 4L));
            graph.addOutput(value("present.0.value", FLOAT, "batch", 2L, "total", 4L));
        }
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("onnx-steer tests")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(graph).build().toByteArray();
    }

    static NodeProto.Builder node(String op, List<String> inputs, String output) {
        return NodeProto.newBuilder().setOpType(op).setName(output + "_" + op).addAllInput(inputs).addOutput(output);
    }

    private static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder attribute = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            attribute.addInts(v);
        }
        return attribute.build();
    }

    static ValueInfoProto value(String name, int elemType, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object dim : dims) {
            TensorShapeProto.Dimension.Builder d = TensorShapeProto.Dimension.newBuilder();
            if (dim instanceof String symbol) {
                d.setDimParam(symbol);
            } else {
                d.setDimValue(((Number) dim).longValue());
            }
            shape.addDim(d);
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape))).build();
    }

    /** Deterministic weights in [-1, 1]. */
    private static TensorProto floats(String name, int rows, int cols, double phase) {
        TensorProto.Builder tensor = TensorProto.newBuilder().setName(name).setDataType(FLOAT).addDims(rows).addDims(cols);
        for (int i = 0; i < rows * cols; i++) {
            tensor.addFloatData((float) Math.sin(i * 1.618 + phase));
        }
        return tensor.build();
    }

    static TensorProto longs(String name, long... values) {
        TensorProto.Builder tensor = TensorProto.newBuilder().setName(name).setDataType(INT64).addDims(values.length);
        for (long v : values) {
            tensor.addInt64Data(v);
        }
        return tensor.build();
    }
}
