package dev.onnxsteer.ir;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds one node: {@code graph.op("MatMul").name("/x/MatMul").inputs(a, b).append().output(0)}. */
public final class NodeBuilder {
    private final Graph graph;
    private final String opType;
    private String domain = "";
    private String name;
    private final List<Value> inputs = new ArrayList<>();
    private final List<String> outputNames = new ArrayList<>();
    private int outputCount = 1;
    private final Map<String, Attribute> attributes = new LinkedHashMap<>();

    NodeBuilder(Graph graph, String opType) {
        this.graph = graph;
        this.opType = opType;
    }

    public NodeBuilder domain(String opDomain) {
        this.domain = opDomain;
        return this;
    }

    /** Node name; made unique if taken. Defaults to the op type. */
    public NodeBuilder name(String nodeName) {
        this.name = nodeName;
        return this;
    }

    /** Inputs in order; null stands for an omitted optional input. */
    public NodeBuilder inputs(Value... values) {
        inputs.addAll(Arrays.asList(values));
        return this;
    }

    public NodeBuilder inputs(List<Value> values) {
        inputs.addAll(values);
        return this;
    }

    /** Names for the outputs (made unique if taken); otherwise named after the node. */
    public NodeBuilder outputs(String... names) {
        outputNames.addAll(Arrays.asList(names));
        outputCount = names.length;
        return this;
    }

    public NodeBuilder outputCount(int count) {
        outputCount = count;
        return this;
    }

    public NodeBuilder attr(String attributeName, long value) {
        return attr(attributeName, new Attribute.IntAttr(value));
    }

    public NodeBuilder attr(String attributeName, float value) {
        return attr(attributeName, new Attribute.FloatAttr(value));
    }

    public NodeBuilder attr(String attributeName, String value) {
        return attr(attributeName, Attribute.StringAttr.of(value));
    }

    public NodeBuilder attr(String attributeName, long[] values) {
        return attr(attributeName, new Attribute.IntsAttr(values.clone()));
    }

    public NodeBuilder attr(String attributeName, Tensor value) {
        return attr(attributeName, new Attribute.TensorAttr(value));
    }

    public NodeBuilder attr(String attributeName, Graph value) {
        return attr(attributeName, new Attribute.GraphAttr(value));
    }

    public NodeBuilder attr(String attributeName, Attribute value) {
        attributes.put(attributeName, value);
        return this;
    }

    /** Adds the node at the end of the graph's node list and returns it. */
    public Node append() {
        String nodeName = graph.names().fresh(name != null ? name : opType);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < outputCount; i++) {
            String hint = i < outputNames.size() ? outputNames.get(i) : nodeName + "_output_" + i;
            names.add(graph.names().fresh(hint));
        }
        return graph.append(opType, domain, nodeName, inputs, names, attributes);
    }

    /** Appends the node and returns its only (first) output. */
    public Value value() {
        return append().output(0);
    }
}
