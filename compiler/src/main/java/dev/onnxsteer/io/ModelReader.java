package dev.onnxsteer.io;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.ir.Attribute;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.proto.AttributeProto;
import dev.onnxsteer.proto.GraphProto;
import dev.onnxsteer.proto.ModelProto;
import dev.onnxsteer.proto.NodeProto;
import dev.onnxsteer.proto.OperatorSetIdProto;
import dev.onnxsteer.proto.StringStringEntryProto;
import dev.onnxsteer.proto.TensorProto;
import dev.onnxsteer.proto.TensorShapeProto;
import dev.onnxsteer.proto.TypeProto;
import dev.onnxsteer.proto.ValueInfoProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads an ONNX model file (or a model directory) into the IR. The file is memory-mapped and
 * parsed with aliasing, so inline weights stay views of the mapping and external weights are
 * only mapped when read: loading never copies all weights into the heap.
 */
public final class ModelReader {
    /** IR versions this reader accepts: 3 introduced opset imports; 12 is the newest the schema knows. */
    public static final int MIN_IR_VERSION = 3;
    public static final int MAX_IR_VERSION = 12;

    private final Path file;
    private final ExternalData externalData;

    private ModelReader(Path file) {
        this.file = file;
        this.externalData = new ExternalData(file);
    }

    /** Reads a {@code .onnx} file or the model of a model directory. */
    public static Model read(Path modelArgument) {
        Path onnx = ModelFiles.locate(modelArgument, null).onnx();
        return new ModelReader(onnx).read();
    }

    private Model read() {
        ModelProto proto = parse();
        Graph graph = new Graph(proto.getGraph().getName());
        Model model = new Model(graph);
        model.setDirectory(file.toAbsolutePath().getParent());
        model.setIrVersion(proto.getIrVersion());
        for (OperatorSetIdProto opset : proto.getOpsetImportList()) {
            model.opsets().put(opset.getDomain(), opset.getVersion());
        }
        model.setProducer(proto.getProducerName(), proto.getProducerVersion());
        model.setDomain(proto.getDomain());
        model.setModelVersion(proto.getModelVersion());
        model.setDocString(proto.getDocString());
        for (StringStringEntryProto entry : proto.getMetadataPropsList()) {
            model.metadata().put(entry.getKey(), entry.getValue());
        }
        for (var function : proto.getFunctionsList()) {
            model.functions().add(function.toByteArray());
        }
        readGraph(proto.getGraph(), graph, null);
        return model;
    }

    private ModelProto parse() {
        long size;
        try {
            size = Files.size(file);
        } catch (IOException e) {
            throw bad("cannot be read", "a readable ONNX model", e.getMessage());
        }
        if (size == 0) {
            throw bad("empty file", "an ONNX model", "0 bytes");
        }
        if (size > Integer.MAX_VALUE) {
            throw bad("too large for one protobuf (larger models keep weights in external data files)",
                    "at most 2 GiB", size + " bytes");
        }
        ModelProto proto;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, size);
            CodedInputStream input = CodedInputStream.newInstance(mapped);
            input.enableAliasing(true);
            input.setSizeLimit(Integer.MAX_VALUE);
            input.setRecursionLimit(1000);
            proto = ModelProto.parseFrom(input);
        } catch (InvalidProtocolBufferException e) {
            throw bad("not an ONNX model (truncated or corrupt protobuf)", "an ONNX ModelProto", e.getMessage());
        } catch (IOException e) {
            throw bad("cannot be read", "a readable ONNX model", e.getMessage());
        }
        if (!proto.getUnknownFields().asMap().isEmpty()) {
            throw bad("a protobuf message but not an ONNX ModelProto", "only ModelProto fields",
                    "fields " + proto.getUnknownFields().asMap().keySet() + " that a model does not have");
        }
        if (!proto.hasGraph()) {
            throw bad("not an ONNX model", "a graph", "no graph");
        }
        if (proto.getIrVersion() < MIN_IR_VERSION || proto.getIrVersion() > MAX_IR_VERSION) {
            throw bad("unsupported IR version", "IR version " + MIN_IR_VERSION + " to " + MAX_IR_VERSION,
                    proto.getIrVersion());
        }
        return proto;
    }

    /** The names visible in a graph: its own values, then those of enclosing graphs. */
    private record Scope(Map<String, Value> values, Scope parent) {
        Value find(String name) {
            for (Scope scope = this; scope != null; scope = scope.parent) {
                Value value = scope.values.get(name);
                if (value != null) {
                    return value;
                }
            }
            return null;
        }
    }

    private void readGraph(GraphProto proto, Graph graph, Scope enclosing) {
        Scope scope = new Scope(new HashMap<>(), enclosing);
        graph.setDocString(proto.getDocString());
        Map<String, TensorProto> initializerProtos = new HashMap<>();
        for (TensorProto init : proto.getInitializerList()) {
            initializerProtos.put(init.getName(), init);
        }
        for (ValueInfoProto input : proto.getInputList()) {
            Value value = define(graph, scope, input.getName(), type(input), "graph input");
            graph.addInput(value);
            TensorProto init = initializerProtos.remove(input.getName());
            if (init != null) {
                graph.makeInitializer(value, tensor(init));
            }
        }
        for (TensorProto init : proto.getInitializerList()) {
            if (initializerProtos.containsKey(init.getName())) {
                Tensor tensor = tensor(init);
                Value value = define(graph, scope, init.getName(), null, "initializer");
                graph.makeInitializer(value, tensor);
                value.setType(new ValueType.Tensor(tensor.type(), dims(tensor)));
            }
        }
        GraphProto.Builder extras = GraphProto.newBuilder()
                .addAllSparseInitializer(proto.getSparseInitializerList())
                .addAllQuantizationAnnotation(proto.getQuantizationAnnotationList())
                .addAllMetadataProps(proto.getMetadataPropsList());
        graph.setExtras(extras.build().toByteArray());
        for (var init : proto.getSparseInitializerList()) {
            define(graph, scope, init.getValues().getName(), null, "sparse initializer");
        }

        List<List<Value>> outputs = new ArrayList<>();
        for (NodeProto node : proto.getNodeList()) {
            List<Value> nodeOutputs = new ArrayList<>();
            for (String name : node.getOutputList()) {
                nodeOutputs.add(name.isEmpty() ? graph.newUnnamedValue()
                        : define(graph, scope, name, null, "output of node '" + node.getName() + "'"));
            }
            outputs.add(nodeOutputs);
        }
        for (ValueInfoProto info : proto.getValueInfoList()) {
            Value value = scope.values().get(info.getName());
            if (value != null && value.type() == null) {
                value.setType(type(info));
            }
        }
        List<Node> nodes = new ArrayList<>();
        for (int i = 0; i < proto.getNodeCount(); i++) {
            NodeProto np = proto.getNode(i);
            Node node = graph.appendWithOutputs(np.getOpType(), np.getDomain(), np.getName(), outputs.get(i));
            node.setDocString(np.getDocString());
            NodeProto extrasProto = NodeProto.newBuilder()
                    .addAllMetadataProps(np.getMetadataPropsList())
                    .addAllDeviceConfigurations(np.getDeviceConfigurationsList())
                    .setOverload(np.getOverload())
                    .build();
            node.setExtras(extrasProto.toByteArray());
            for (AttributeProto attribute : np.getAttributeList()) {
                node.setAttribute(attribute.getName(), attribute(attribute, graph, scope));
            }
            nodes.add(node);
        }
        for (int i = 0; i < proto.getNodeCount(); i++) {
            NodeProto np = proto.getNode(i);
            for (String name : np.getInputList()) {
                nodes.get(i).addInput(name.isEmpty() ? null : lookup(scope, name, "node '" + np.getName() + "'"));
            }
        }
        for (ValueInfoProto output : proto.getOutputList()) {
            Value value = lookup(scope, output.getName(), "graph output");
            ValueType declared = type(output);
            if (declared != null && (value.type() == null || value.producer() != null)) {
                value.setType(declared);
            }
            graph.addOutput(value);
        }
    }

    /** A new value in {@code scope}; ONNX forbids defining a name twice in one scope or shadowing an outer one. */
    private Value define(Graph graph, Scope scope, String name, ValueType type, String what) {
        if (scope.find(name) != null) {
            throw bad("value '" + FileProblem.printable(name) + "' is defined twice", "each name assigned once",
                    "it again as " + what);
        }
        Value value = graph.readValue(name, type);
        scope.values().put(name, value);
        return value;
    }

    private static List<Dim> dims(Tensor tensor) {
        List<Dim> dims = new ArrayList<>();
        for (long d : tensor.dims()) {
            dims.add(Dim.of(d));
        }
        return dims;
    }

    private Value lookup(Scope scope, String name, String reader) {
        Value value = scope.find(name);
        if (value == null) {
            throw bad(reader + " reads an undefined value", "a node, graph input or initializer in scope defining it",
                    "'" + name + "' defined nowhere");
        }
        return value;
    }

    private Attribute attribute(AttributeProto proto, Graph owner, Scope scope) {
        if (!proto.getRefAttrName().isEmpty()) {
            return new Attribute.OpaqueAttr(proto.toByteArray());
        }
        switch (proto.getType()) {
            case FLOAT:
                return new Attribute.FloatAttr(proto.getF());
            case INT:
                return new Attribute.IntAttr(proto.getI());
            case STRING:
                return new Attribute.StringAttr(proto.getS().toByteArray());
            case TENSOR:
                return new Attribute.TensorAttr(tensor(proto.getT()));
            case GRAPH:
                return new Attribute.GraphAttr(subgraph(proto.getG(), owner, scope));
            case FLOATS: {
                float[] values = new float[proto.getFloatsCount()];
                for (int i = 0; i < values.length; i++) {
                    values[i] = proto.getFloats(i);
                }
                return new Attribute.FloatsAttr(values);
            }
            case INTS:
                return new Attribute.IntsAttr(proto.getIntsList().stream().mapToLong(Long::longValue).toArray());
            case STRINGS:
                return new Attribute.StringsAttr(proto.getStringsList().stream().map(ByteString::toByteArray).toList());
            case TENSORS:
                return new Attribute.TensorsAttr(proto.getTensorsList().stream().map(this::tensor).toList());
            case GRAPHS:
                return new Attribute.GraphsAttr(proto.getGraphsList().stream().map(g -> subgraph(g, owner, scope)).toList());
            default:
                return new Attribute.OpaqueAttr(proto.toByteArray());
        }
    }

    private Graph subgraph(GraphProto proto, Graph owner, Scope scope) {
        Graph sub = owner.newSubgraph(proto.getName());
        readGraph(proto, sub, scope);
        return sub;
    }

    private ValueType type(ValueInfoProto info) {
        if (!info.hasType()) {
            return null;
        }
        TypeProto type = info.getType();
        if (type.hasTensorType()) {
            TypeProto.Tensor tensor = type.getTensorType();
            List<Dim> shape = null;
            if (tensor.hasShape()) {
                shape = new ArrayList<>();
                for (TensorShapeProto.Dimension dim : tensor.getShape().getDimList()) {
                    shape.add(dim.hasDimValue() ? Dim.of(dim.getDimValue())
                            : dim.hasDimParam() ? Dim.param(dim.getDimParam()) : Dim.unknown());
                }
            }
            DataType element;
            try {
                element = DataType.fromCode(tensor.getElemType());
            } catch (IllegalArgumentException e) {
                throw bad("value '" + FileProblem.printable(info.getName()) + "' has an unknown element type",
                        "an ONNX data type code", tensor.getElemType());
            }
            return new ValueType.Tensor(element, shape);
        }
        return new ValueType.Opaque(type.toByteArray());
    }

    private Tensor tensor(TensorProto proto) {
        DataType type;
        try {
            type = DataType.fromCode(proto.getDataType());
        } catch (IllegalArgumentException e) {
            throw bad("tensor '" + FileProblem.printable(proto.getName()) + "' has an unknown data type", "an ONNX data type code",
                    proto.getDataType());
        }
        long[] dims = proto.getDimsList().stream().mapToLong(Long::longValue).toArray();
        try {
            return new Tensor(type, dims, storage(proto, type, dims));
        } catch (IllegalArgumentException e) {
            throw bad("tensor '" + FileProblem.printable(proto.getName()) + "' does not hold its shape", "data for dims "
                    + java.util.Arrays.toString(dims), e.getMessage());
        }
    }

    private Tensor.Storage storage(TensorProto proto, DataType type, long[] dims) {
        if (proto.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            Map<String, String> keys = new HashMap<>();
            for (StringStringEntryProto entry : proto.getExternalDataList()) {
                keys.put(entry.getKey(), entry.getValue());
            }
            long count = 1;
            for (long d : dims) {
                count *= d;
            }
            String location = keys.get("location");
            long offset = parseLong(keys.getOrDefault("offset", "0"), proto, "offset");
            long length = keys.containsKey("length") ? parseLong(keys.get("length"), proto, "length") : type.byteSize(count);
            Path path = externalData.resolve(proto.getName(), location, offset, length);
            return new Tensor.External(path, location, offset, length);
        }
        if (type == DataType.STRING) {
            return new Tensor.Strings(proto.getStringDataList().stream().map(ByteString::toByteArray).toList());
        }
        if (proto.hasRawData()) {
            return new Tensor.Inline(proto.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN));
        }
        return new Tensor.Inline(TypedFields.toBytes(proto, type));
    }

    private long parseLong(String text, TensorProto proto, String key) {
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw bad("external data " + key + " of tensor '" + FileProblem.printable(proto.getName()) + "' is not a number",
                    "a number", "'" + text + "'");
        }
    }

    /** A refusal whose names and values, read from a possibly corrupted protobuf, are escaped and cut. */
    private BadModelException bad(String what, Object expected, Object found) {
        return new BadModelException(FileProblem.printable(FileProblem.message(file, what, expected, found),
                FileProblem.MAX_MESSAGE_CHARS));
    }
}
