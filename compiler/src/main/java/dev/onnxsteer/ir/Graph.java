package dev.onnxsteer.ir;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A graph being read or edited: inputs, initializers, nodes and outputs. A subgraph (an If
 * branch, a Loop body) has a parent and may read any value of its enclosing graphs.
 * "Edit freely, then sort": passes append nodes anywhere and call {@link #sortTopologically()}.
 */
public final class Graph {
    private final Graph parent;
    private final NameAuthority names;
    private String name;
    private String docString = "";
    private final List<Value> inputs = new ArrayList<>();
    private final List<Value> outputs = new ArrayList<>();
    private final List<Value> initializers = new ArrayList<>();
    private final List<Node> nodes = new ArrayList<>();
    private byte[] extras = new byte[0];

    /** A new top-level graph with its own name authority. */
    public Graph(String name) {
        this(null, new NameAuthority(), name);
    }

    private Graph(Graph parent, NameAuthority names, String name) {
        this.parent = parent;
        this.names = names;
        this.name = name;
    }

    /** A new, empty subgraph of this graph, sharing its names; attach it to a node attribute. */
    public Graph newSubgraph(String subgraphName) {
        return new Graph(this, names, subgraphName);
    }

    public Graph parent() {
        return parent;
    }

    public NameAuthority names() {
        return names;
    }

    public String name() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public String docString() {
        return docString;
    }

    public void setDocString(String docString) {
        this.docString = docString;
    }

    /** GraphProto fields the compiler does not interpret, serialized, so they round-trip. */
    public byte[] extras() {
        return extras.clone();
    }

    public void setExtras(byte[] extras) {
        this.extras = extras.clone();
    }

    public List<Value> inputs() {
        return Collections.unmodifiableList(inputs);
    }

    public List<Value> outputs() {
        return Collections.unmodifiableList(outputs);
    }

    List<Value> outputsMutable() {
        return outputs;
    }

    public List<Value> initializers() {
        return Collections.unmodifiableList(initializers);
    }

    /** Nodes in their current order (topological after {@link #sortTopologically()}). */
    public List<Node> nodes() {
        return Collections.unmodifiableList(nodes);
    }

    /** A value that is neither input nor initializer nor produced yet; the reader uses it for forward references. */
    public Value newValue(String valueName, ValueType type) {
        if (!names.register(valueName)) {
            throw new IllegalArgumentException("name " + valueName + " is already used in the model");
        }
        return new Value(this, valueName, type);
    }

    /**
     * A value read from a file. Its name must be new in its scope (the reader checks that), but
     * may repeat a name in a sibling subgraph: Optimum's merged decoders give both If branches
     * the same names. New names from {@link NameAuthority#fresh} still never collide with it.
     */
    public Value readValue(String valueName, ValueType type) {
        names.register(valueName);
        return new Value(this, valueName, type);
    }

    /** A placeholder for an omitted optional node output (name ""). */
    public Value newUnnamedValue() {
        return new Value(this, "", null);
    }

    public Value addInput(String inputName, ValueType type) {
        Value value = newValue(inputName, type);
        inputs.add(value);
        return value;
    }

    /** Adds an existing value (typically an initializer) to the graph inputs, after the others. */
    public void addInput(Value value) {
        requireOwn(value);
        inputs.add(value);
    }

    public void removeInput(Value value) {
        inputs.remove(value);
    }

    public Value addInitializer(String initializerName, Tensor tensor) {
        Value value = newValue(initializerName, new ValueType.Tensor(tensor.type(), Value.dimsOf(tensor)));
        value.initialize(tensor);
        initializers.add(value);
        return value;
    }

    /** Attaches data to a value created with {@link #newValue}, making it an initializer. */
    public void makeInitializer(Value value, Tensor tensor) {
        requireOwn(value);
        value.initialize(tensor);
        initializers.add(value);
    }

    /** Removes an initializer that nothing reads any more. */
    public void removeInitializer(Value value) {
        if (value.hasUses() || value.isGraphOutput()) {
            throw new IllegalStateException("initializer " + value + " is still used");
        }
        initializers.remove(value);
        inputs.remove(value);
    }

    /**
     * Makes an input that has an initializer default a required input: the initializer is dropped and
     * its data returned. For runtimes that cannot override defaulted inputs (ONNX Runtime's Java API).
     */
    public Tensor removeDefault(Value value) {
        requireOwn(value);
        if (!inputs.contains(value) || !value.isInitializer()) {
            throw new IllegalArgumentException(value + " is not a graph input with a default");
        }
        Tensor data = value.initializer();
        initializers.remove(value);
        value.initialize(null);
        return data;
    }

    public void addOutput(Value value) {
        outputs.add(value);
    }

    public void setOutput(int index, Value value) {
        outputs.set(index, value);
    }

    /** Starts building a node of the default ONNX domain; finish with {@link NodeBuilder#append()}. */
    public NodeBuilder op(String opType) {
        return new NodeBuilder(this, opType);
    }

    Node append(String opType, String domain, String nodeName, List<Value> nodeInputs, List<String> outputNames,
            Map<String, Attribute> attributes) {
        Operators.check(domain, opType, nodeInputs.size(), outputNames.size());
        names.register(nodeName);
        Node node = new Node(this, opType, domain, nodeName);
        for (Value input : nodeInputs) {
            node.addInput(input);
        }
        for (String outputName : outputNames) {
            names.register(outputName);
            node.addOutput(new Value(this, outputName, null));
        }
        attributes.forEach(node::setAttribute);
        nodes.add(node);
        return node;
    }

    /** Adds a node whose outputs already exist as values (used by the reader). */
    public Node appendWithOutputs(String opType, String domain, String nodeName, List<Value> nodeOutputs) {
        names.register(nodeName);
        Node node = new Node(this, opType, domain, nodeName);
        for (Value output : nodeOutputs) {
            node.addOutput(output);
        }
        nodes.add(node);
        return node;
    }

    /** Removes a node whose outputs nobody reads; refuses otherwise. */
    public void removeNode(Node node) {
        for (Value output : node.outputs()) {
            if (output.hasUses() || output.isGraphOutput()) {
                throw new IllegalStateException("cannot remove " + node + ": its output " + output + " is still used");
            }
        }
        node.detachInputs();
        nodes.remove(node);
    }

    /** Removes nodes (and then initializers) that contribute to no graph output. Returns how many nodes went. */
    public int removeDeadNodes() {
        int removed = 0;
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int i = nodes.size() - 1; i >= 0; i--) {
                Node node = nodes.get(i);
                boolean dead = node.outputs().stream().noneMatch(o -> o.hasUses() || o.isGraphOutput());
                if (dead) {
                    node.detachInputs();
                    nodes.remove(i);
                    removed++;
                    changed = true;
                }
            }
        }
        initializers.removeIf(v -> !v.hasUses() && !v.isGraphOutput() && !inputs.contains(v));
        return removed;
    }

    /**
     * Orders nodes so every node comes after the producers of its inputs, including values its
     * subgraphs read from this graph. Keeps the existing order where it is already valid.
     *
     * @throws IllegalStateException naming a node on the cycle when there is one
     */
    public void sortTopologically() {
        List<Node> sorted = TopologicalOrder.acyclicPart(nodes);
        if (sorted.size() != nodes.size()) {
            Node stuck = TopologicalOrder.missing(nodes, sorted).get(0);
            throw new IllegalStateException("graph " + name + " has a cycle through node " + stuck);
        }
        nodes.clear();
        nodes.addAll(sorted);
        for (Node node : sorted) {
            for (Graph sub : node.subgraphs()) {
                sub.sortTopologically();
            }
        }
    }

    /**
     * The nodes in the one topological order every reader of this graph uses: each after the
     * producers of its inputs (values its subgraphs read from this graph included), the current
     * order breaking ties. Does not reorder the graph. Nodes on a cycle, which have no such place,
     * come last in their current order; {@link #sortTopologically()} refuses them.
     */
    public List<Node> topologicalOrder() {
        List<Node> sorted = TopologicalOrder.acyclicPart(nodes);
        sorted.addAll(TopologicalOrder.missing(nodes, sorted));
        return sorted;
    }

    /** Finds a value by name in this graph, then in the enclosing graphs. */
    public Optional<Value> find(String valueName) {
        for (Graph graph = this; graph != null; graph = graph.parent) {
            Value value = graph.localValues().get(valueName);
            if (value != null) {
                return Optional.of(value);
            }
        }
        return Optional.empty();
    }

    /** Every value defined in this graph (not its subgraphs), by name. */
    public Map<String, Value> localValues() {
        Map<String, Value> values = new HashMap<>();
        for (Value v : inputs) {
            values.put(v.name(), v);
        }
        for (Value v : initializers) {
            values.put(v.name(), v);
        }
        for (Node node : nodes) {
            for (Value v : node.outputs()) {
                if (!v.name().isEmpty()) {
                    values.put(v.name(), v);
                }
            }
        }
        return values;
    }

    /** This graph followed by all subgraphs at any depth. */
    public List<Graph> allGraphs() {
        List<Graph> graphs = new ArrayList<>();
        Deque<Graph> todo = new ArrayDeque<>();
        todo.add(this);
        while (!todo.isEmpty()) {
            Graph graph = todo.poll();
            graphs.add(graph);
            for (Node node : graph.nodes) {
                todo.addAll(node.subgraphs());
            }
        }
        return graphs;
    }

    /** Values whose producer is in this graph, in node order, without duplicates. */
    public Set<Value> producedValues() {
        Set<Value> values = new LinkedHashSet<>();
        for (Node node : nodes) {
            values.addAll(node.outputs());
        }
        return values;
    }

    private void requireOwn(Value value) {
        if (value.graph() != this) {
            throw new IllegalArgumentException(value + " belongs to " + value.graph() + ", not " + this);
        }
    }

    @Override
    public String toString() {
        return "graph " + name;
    }
}
