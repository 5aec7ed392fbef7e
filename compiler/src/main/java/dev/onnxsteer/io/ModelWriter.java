package dev.onnxsteer.io;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.onnxsteer.ir.Attribute;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.proto.AttributeProto;
import dev.onnxsteer.proto.FunctionProto;
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
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * Writes the IR back to an ONNX file. Unchanged external tensors keep their references and their
 * files are hard-linked into the output directory (copied only where a link is impossible), so
 * writing costs the same whatever the weight bytes. Inline tensors move to a new external data
 * file when asked to, or when the protobuf would otherwise pass protobuf's 2 GiB limit.
 */
public final class ModelWriter {
    /** Above this many inline bytes a model is written with external data; protobuf cannot exceed 2 GiB. */
    public static final long PROTOBUF_BUDGET = 1L << 30 | 1L << 29;
    /** Tensors smaller than this stay inline even when a model is externalised. */
    public static final long SMALL_TENSOR = 1024;

    private final Path onnxFile;
    private final Path directory;
    private final boolean externalize;
    private final Map<Path, Path> linked = new HashMap<>();
    private final Set<String> usedLocations = new HashSet<>();
    private FileChannel newData;
    private String newDataLocation;
    private Path newDataTemp;
    private long newDataOffset;

    private ModelWriter(Path onnxFile, boolean externalize) {
        this.onnxFile = onnxFile.toAbsolutePath();
        this.directory = this.onnxFile.getParent();
        this.externalize = externalize;
    }

    /** Writes {@code model} to {@code onnxFile} (temp file, then rename), linking external data beside it. */
    public static void write(Model model, Path onnxFile) {
        write(model, onnxFile, false);
    }

    /**
     * As {@link #write(Model, Path)}; with {@code externalize} every inline tensor of at least
     * {@link #SMALL_TENSOR} bytes goes to {@code <file>.data} (also done automatically past {@link #PROTOBUF_BUDGET}).
     */
    public static void write(Model model, Path onnxFile, boolean externalize) {
        boolean tooBig = inlineBytes(model.graph()) > PROTOBUF_BUDGET;
        new ModelWriter(onnxFile, externalize || tooBig).writeModel(model);
    }

    /** The serialized model, with external references left as they are (for in-memory use next to the source files). */
    public static byte[] toBytes(Model model) {
        ModelWriter writer = new ModelWriter(model.directory() != null ? model.directory().resolve("model.onnx")
                : Path.of("model.onnx"), false);
        writer.linkFiles = false;
        return writer.toProto(model).toByteArray();
    }

    private boolean linkFiles = true;

    private void writeModel(Model model) {
        try {
            Files.createDirectories(directory);
            ModelProto proto = toProto(model);
            if (newData != null) {
                newData.force(true);
                newData.close();
                AtomicFiles.moveIntoPlace(newDataTemp, directory.resolve(newDataLocation));
            }
            AtomicFiles.write(onnxFile, out -> {
                CodedOutputStream coded = CodedOutputStream.newInstance(out, 1 << 20);
                proto.writeTo(coded);
                coded.flush();
            });
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + onnxFile + ": " + e.getMessage(), e);
        } finally {
            closeQuietly();
        }
    }

    private void closeQuietly() {
        try {
            if (newData != null && newData.isOpen()) {
                newData.close();
            }
            if (newDataTemp != null) {
                Files.deleteIfExists(newDataTemp);
            }
        } catch (IOException ignored) {
            // best effort cleanup of a temp file after a failure that is already being reported
        }
    }

    private ModelProto toProto(Model model) {
        ModelProto.Builder builder = ModelProto.newBuilder()
                .setIrVersion(model.irVersion())
                .setProducerName(model.producerName())
                .setProducerVersion(model.producerVersion())
                .setDomain(model.domain())
                .setModelVersion(model.modelVersion())
                .setDocString(model.docString());
        model.opsets().forEach((domain, version) ->
                builder.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(version)));
        model.metadata().forEach((key, value) ->
                builder.addMetadataProps(StringStringEntryProto.newBuilder().setKey(key).setValue(value)));
        for (byte[] function : model.functions()) {
            try {
                builder.addFunctions(FunctionProto.parseFrom(function));
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("a carried function no longer parses", e);
            }
        }
        builder.setGraph(graph(model.graph()));
        return builder.build();
    }

    private GraphProto graph(Graph graph) {
        GraphProto.Builder builder;
        try {
            builder = GraphProto.parseFrom(graph.extras()).toBuilder();
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("carried graph fields no longer parse", e);
        }
        builder.setName(graph.name()).setDocString(graph.docString());
        Set<Value> declared = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (Value input : graph.inputs()) {
            builder.addInput(valueInfo(input));
            declared.add(input);
        }
        for (Value init : graph.initializers()) {
            builder.addInitializer(tensor(init.name(), init.initializer()));
            declared.add(init);
        }
        for (Node node : graph.nodes()) {
            builder.addNode(node(node));
        }
        for (Value output : graph.outputs()) {
            builder.addOutput(valueInfo(output));
            declared.add(output);
        }
        Set<Value> typed = new LinkedHashSet<>();
        for (Node node : graph.nodes()) {
            for (Value v : node.outputs()) {
                if (v.type() != null && !v.name().isEmpty() && !declared.contains(v)) {
                    typed.add(v);
                }
            }
        }
        for (Value v : typed) {
            builder.addValueInfo(valueInfo(v));
        }
        return builder.build();
    }

    private NodeProto node(Node node) {
        NodeProto.Builder builder;
        try {
            builder = NodeProto.parseFrom(node.extras()).toBuilder();
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("carried node fields no longer parse", e);
        }
        builder.setOpType(node.opType()).setName(node.name()).setDomain(node.domain()).setDocString(node.docString());
        for (Value input : node.inputs()) {
            builder.addInput(input == null ? "" : input.name());
        }
        for (Value output : node.outputs()) {
            builder.addOutput(output.name());
        }
        node.attributes().forEach((name, attribute) -> builder.addAttribute(attribute(name, attribute)));
        return builder.build();
    }

    private AttributeProto attribute(String name, Attribute attribute) {
        if (attribute instanceof Attribute.OpaqueAttr opaque) {
            try {
                return AttributeProto.parseFrom(opaque.attributeProto()).toBuilder().setName(name).build();
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("carried attribute " + name + " no longer parses", e);
            }
        }
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name);
        if (attribute instanceof Attribute.FloatAttr a) {
            b.setType(AttributeProto.AttributeType.FLOAT).setF(a.value());
        } else if (attribute instanceof Attribute.IntAttr a) {
            b.setType(AttributeProto.AttributeType.INT).setI(a.value());
        } else if (attribute instanceof Attribute.StringAttr a) {
            b.setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFrom(a.value()));
        } else if (attribute instanceof Attribute.TensorAttr a) {
            b.setType(AttributeProto.AttributeType.TENSOR).setT(tensor("", a.value()));
        } else if (attribute instanceof Attribute.GraphAttr a) {
            b.setType(AttributeProto.AttributeType.GRAPH).setG(graph(a.value()));
        } else if (attribute instanceof Attribute.FloatsAttr a) {
            b.setType(AttributeProto.AttributeType.FLOATS);
            for (float f : a.values()) {
                b.addFloats(f);
            }
        } else if (attribute instanceof Attribute.IntsAttr a) {
            b.setType(AttributeProto.AttributeType.INTS);
            for (long i : a.values()) {
                b.addInts(i);
            }
        } else if (attribute instanceof Attribute.StringsAttr a) {
            b.setType(AttributeProto.AttributeType.STRINGS);
            a.values().forEach(s -> b.addStrings(ByteString.copyFrom(s)));
        } else if (attribute instanceof Attribute.TensorsAttr a) {
            b.setType(AttributeProto.AttributeType.TENSORS);
            a.values().forEach(t -> b.addTensors(tensor("", t)));
        } else if (attribute instanceof Attribute.GraphsAttr a) {
            b.setType(AttributeProto.AttributeType.GRAPHS);
            a.values().forEach(g -> b.addGraphs(graph(g)));
        }
        return b.build();
    }

    private static ValueInfoProto valueInfo(Value value) {
        ValueInfoProto.Builder info = ValueInfoProto.newBuilder().setName(value.name());
        ValueType type = value.type();
        if (type instanceof ValueType.Tensor tensor) {
            TypeProto.Tensor.Builder tt = TypeProto.Tensor.newBuilder().setElemType(tensor.elementType().code());
            if (tensor.shape() != null) {
                TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
                for (Dim dim : tensor.shape()) {
                    TensorShapeProto.Dimension.Builder d = TensorShapeProto.Dimension.newBuilder();
                    if (dim.value() != null) {
                        d.setDimValue(dim.value());
                    } else if (dim.param() != null) {
                        d.setDimParam(dim.param());
                    }
                    shape.addDim(d);
                }
                tt.setShape(shape);
            }
            info.setType(TypeProto.newBuilder().setTensorType(tt));
        } else if (type instanceof ValueType.Opaque opaque) {
            try {
                info.setType(TypeProto.parseFrom(opaque.typeProto()));
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("carried type of " + value + " no longer parses", e);
            }
        }
        return info.build();
    }

    private TensorProto tensor(String name, Tensor tensor) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(tensor.type().code());
        for (long d : tensor.dims()) {
            b.addDims(d);
        }
        Tensor.Storage storage = tensor.storage();
        if (storage instanceof Tensor.Strings strings) {
            strings.values().forEach(s -> b.addStringData(ByteString.copyFrom(s)));
        } else if (storage instanceof Tensor.External ext) {
            String location = linkFiles ? link(ext) : relativeLocation(ext);
            external(b, location, ext.offset(), ext.length());
        } else if (externalize && !name.isEmpty() && tensor.byteSize() >= SMALL_TENSOR) {
            long offset = appendNewData(tensor.bytes());
            external(b, newDataLocation, offset, tensor.byteSize());
        } else {
            b.setRawData(UnsafeByteOperations.unsafeWrap(tensor.bytes()));
        }
        return b.build();
    }

    private static void external(TensorProto.Builder b, String location, long offset, long length) {
        b.setDataLocation(TensorProto.DataLocation.EXTERNAL);
        b.addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue(location));
        b.addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue(Long.toString(offset)));
        b.addExternalData(StringStringEntryProto.newBuilder().setKey("length").setValue(Long.toString(length)));
    }

    private String relativeLocation(Tensor.External ext) {
        return directory.relativize(ext.file().toAbsolutePath()).toString();
    }

    /** Makes {@code ext}'s file available in the output directory and returns its location there. */
    private String link(Tensor.External ext) {
        Path source = ext.file().toAbsolutePath().normalize();
        Path done = linked.get(source);
        if (done != null) {
            return done.toString();
        }
        String location = ext.location();
        Path target = directory.resolve(location).normalize();
        try {
            if (Files.exists(target) && Files.isSameFile(target, source)) {
                usedLocations.add(location);
                linked.put(source, Path.of(location));
                return location;
            }
            while (usedLocations.contains(location) || Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                location = "linked_" + location.replace('/', '_');
                target = directory.resolve(location);
            }
            Files.createDirectories(target.getParent());
            try {
                Files.createLink(target, source.toRealPath());
            } catch (IOException | UnsupportedOperationException e) {
                Files.copy(source, target);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot place external data " + location + " in " + directory, e);
        }
        usedLocations.add(location);
        linked.put(source, Path.of(location));
        return location;
    }

    private long appendNewData(ByteBuffer bytes) {
        try {
            if (newData == null) {
                String base = onnxFile.getFileName() + ".data";
                newDataLocation = base;
                for (int i = 1; usedLocations.contains(newDataLocation); i++) {
                    newDataLocation = base + "." + i;
                }
                usedLocations.add(newDataLocation);
                newDataTemp = AtomicFiles.tempFileBeside(directory.resolve(newDataLocation));
                newData = FileChannel.open(newDataTemp, StandardOpenOption.WRITE);
            }
            // 64-byte alignment lets readers map tensors directly.
            long offset = (newDataOffset + 63) & ~63L;
            ByteBuffer copy = bytes.duplicate();
            long position = offset;
            while (copy.hasRemaining()) {
                position += newData.write(copy, position);
            }
            newDataOffset = position;
            return offset;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write external data next to " + onnxFile, e);
        }
    }

    private static long inlineBytes(Graph graph) {
        long total = 0;
        for (Graph g : graph.allGraphs()) {
            Collection<Value> inits = g.initializers();
            for (Value v : inits) {
                if (!v.initializer().isExternal()) {
                    total += v.initializer().byteSize();
                }
            }
        }
        return total;
    }
}
