package dev.onnxsteer.ir;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** An operator application. Inputs may contain null for an omitted optional input. */
public final class Node {
    private final Graph graph;
    private final String opType;
    private final String domain;
    private String name;
    private final List<Value> inputs = new ArrayList<>();
    private final List<Value> outputs = new ArrayList<>();
    private final Map<String, Attribute> attributes = new LinkedHashMap<>();
    private String docString = "";
    private byte[] extras = new byte[0];

    Node(Graph graph, String opType, String domain, String name) {
        this.graph = graph;
        this.opType = opType;
        this.domain = domain == null ? "" : domain;
        this.name = name;
    }

    public Graph graph() {
        return graph;
    }

    public String opType() {
        return opType;
    }

    /** "" for the default ONNX domain ("ai.onnx" is normalised to ""). */
    public String domain() {
        return domain.equals("ai.onnx") ? "" : domain;
    }

    public boolean is(String op) {
        return opType.equals(op) && domain().isEmpty();
    }

    public String name() {
        return name;
    }

    public void rename(String newName) {
        graph.names().register(newName);
        name = newName;
    }

    public List<Value> inputs() {
        return Collections.unmodifiableList(inputs);
    }

    public int inputCount() {
        return inputs.size();
    }

    /** Input {@code index}, or null when it is absent or omitted. */
    public Value input(int index) {
        return index < inputs.size() ? inputs.get(index) : null;
    }

    public void setInput(int index, Value value) {
        Value old = inputs.get(index);
        if (old != null) {
            old.removeUse(this, index);
        }
        inputs.set(index, value);
        if (value != null) {
            value.addUse(this, index);
        }
    }

    public void addInput(Value value) {
        inputs.add(value);
        if (value != null) {
            value.addUse(this, inputs.size() - 1);
        }
    }

    public List<Value> outputs() {
        return Collections.unmodifiableList(outputs);
    }

    public Value output(int index) {
        return outputs.get(index);
    }

    void addOutput(Value value) {
        outputs.add(value);
        value.setProducer(this, outputs.size() - 1);
    }

    public Map<String, Attribute> attributes() {
        return Collections.unmodifiableMap(attributes);
    }

    public Optional<Attribute> attribute(String attributeName) {
        return Optional.ofNullable(attributes.get(attributeName));
    }

    public long intAttribute(String attributeName, long fallback) {
        return attributes.get(attributeName) instanceof Attribute.IntAttr a ? a.value() : fallback;
    }

    public float floatAttribute(String attributeName, float fallback) {
        return attributes.get(attributeName) instanceof Attribute.FloatAttr a ? a.value() : fallback;
    }

    public String stringAttribute(String attributeName, String fallback) {
        return attributes.get(attributeName) instanceof Attribute.StringAttr a ? a.text() : fallback;
    }

    public void setAttribute(String attributeName, Attribute value) {
        attributes.put(attributeName, value);
    }

    /** Subgraphs held by this node's attributes (If branches, Loop/Scan bodies). */
    public List<Graph> subgraphs() {
        List<Graph> graphs = new ArrayList<>();
        for (Attribute attribute : attributes.values()) {
            if (attribute instanceof Attribute.GraphAttr g) {
                graphs.add(g.value());
            } else if (attribute instanceof Attribute.GraphsAttr gs) {
                graphs.addAll(gs.values());
            }
        }
        return graphs;
    }

    public String docString() {
        return docString;
    }

    public void setDocString(String docString) {
        this.docString = docString;
    }

    /** NodeProto fields the compiler does not interpret (metadata, device configurations), serialized. */
    public byte[] extras() {
        return extras.clone();
    }

    public void setExtras(byte[] extras) {
        this.extras = extras.clone();
    }

    /** Disconnects the inputs; called by the graph when the node is removed. */
    void detachInputs() {
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i) != null) {
                inputs.get(i).removeUse(this, i);
                inputs.set(i, null);
            }
        }
    }

    @Override
    public String toString() {
        return opType + "(" + name + ")";
    }
}
