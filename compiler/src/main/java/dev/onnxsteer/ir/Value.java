package dev.onnxsteer.ir;

import java.util.ArrayList;
import java.util.List;

/**
 * A tensor flowing through a graph: a graph input, an initializer, or a node output. It knows its
 * producer and every use, so rewiring never needs a name search. Values compare by identity; the
 * name is a label that must be unique in the model.
 */
public final class Value {
    private final Graph graph;
    private String name;
    private ValueType type;
    private Node producer;
    private int outputIndex = -1;
    private Tensor initializer;
    private final List<Use> uses = new ArrayList<>();

    Value(Graph graph, String name, ValueType type) {
        this.graph = graph;
        this.name = name;
        this.type = type;
    }

    /** The graph this value is defined in (subgraph nodes may read values of enclosing graphs). */
    public Graph graph() {
        return graph;
    }

    public String name() {
        return name;
    }

    public void rename(String newName) {
        if (!newName.equals(name) && !graph.names().register(newName)) {
            throw new IllegalArgumentException("name " + newName + " is already used in the model");
        }
        name = newName;
    }

    /**
     * Exchanges names with {@code other}. Used when a new value takes over a graph output, so the
     * model keeps returning a tensor of the name callers ask for.
     */
    public void swapNames(Value other) {
        String mine = name;
        name = other.name;
        other.name = mine;
    }

    /** Declared type, or null when the model does not say. */
    public ValueType type() {
        return type;
    }

    public void setType(ValueType type) {
        this.type = type;
    }

    /** Tensor type when declared, else null. */
    public ValueType.Tensor tensorType() {
        return type instanceof ValueType.Tensor t ? t : null;
    }

    /** The node that computes this value, or null for graph inputs and initializers. */
    public Node producer() {
        return producer;
    }

    public int outputIndex() {
        return outputIndex;
    }

    void setProducer(Node node, int index) {
        producer = node;
        outputIndex = index;
    }

    public boolean isInitializer() {
        return initializer != null;
    }

    /** The constant data when this value is an initializer, else null. */
    public Tensor initializer() {
        return initializer;
    }

    /** Replaces the data of an initializer (shape and type may change; the value keeps its uses). */
    public void setInitializer(Tensor tensor) {
        if (initializer == null) {
            throw new IllegalStateException(name + " is not an initializer");
        }
        initializer = tensor;
        type = new ValueType.Tensor(tensor.type(), dimsOf(tensor));
    }

    void initialize(Tensor tensor) {
        initializer = tensor;
    }

    public boolean isGraphInput() {
        return graph.inputs().contains(this);
    }

    public boolean isGraphOutput() {
        return graph.outputs().contains(this);
    }

    /** A snapshot of the uses, so callers can rewire while iterating. */
    public List<Use> uses() {
        return List.copyOf(uses);
    }

    public boolean hasUses() {
        return !uses.isEmpty();
    }

    void addUse(Node node, int index) {
        uses.add(new Use(node, index));
    }

    void removeUse(Node node, int index) {
        for (int i = 0; i < uses.size(); i++) {
            Use use = uses.get(i);
            if (use.node() == node && use.index() == index) {
                uses.remove(i);
                return;
            }
        }
        throw new IllegalStateException(name + " has no use at input " + index + " of " + node);
    }

    /**
     * Makes every reader of this value read {@code replacement} instead, including nodes in
     * subgraphs. Graph outputs are moved only when {@code replaceGraphOutputs} is true, because
     * moving an output changes what the model returns.
     */
    public void replaceAllUsesWith(Value replacement, boolean replaceGraphOutputs) {
        if (replacement == this) {
            return;
        }
        for (Use use : uses()) {
            use.node().setInput(use.index(), replacement);
        }
        if (replaceGraphOutputs) {
            List<Value> outputs = graph.outputsMutable();
            for (int i = 0; i < outputs.size(); i++) {
                if (outputs.get(i) == this) {
                    outputs.set(i, replacement);
                }
            }
        }
    }

    static List<Dim> dimsOf(Tensor tensor) {
        List<Dim> dims = new ArrayList<>();
        for (long d : tensor.dims()) {
            dims.add(Dim.of(d));
        }
        return dims;
    }

    @Override
    public String toString() {
        return name;
    }
}
