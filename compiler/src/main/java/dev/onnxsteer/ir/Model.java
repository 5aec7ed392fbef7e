package dev.onnxsteer.ir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A model: its main graph plus the header fields of the ONNX ModelProto. */
public final class Model {
    private long irVersion = 8;
    private final Map<String, Long> opsets = new LinkedHashMap<>();
    private String producerName = "";
    private String producerVersion = "";
    private String domain = "";
    private long modelVersion;
    private String docString = "";
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final Graph graph;
    private final List<byte[]> functions = new ArrayList<>();
    private Path directory;

    public Model(Graph graph) {
        this.graph = graph;
    }

    public Graph graph() {
        return graph;
    }

    public long irVersion() {
        return irVersion;
    }

    public void setIrVersion(long irVersion) {
        this.irVersion = irVersion;
    }

    /** Operator set versions by domain ("" is the default ONNX domain). Mutable. */
    public Map<String, Long> opsets() {
        return opsets;
    }

    /** The default-domain opset version, or 0 when the model does not import it. */
    public long opset() {
        return opsets.getOrDefault("", opsets.getOrDefault("ai.onnx", 0L));
    }

    public String producerName() {
        return producerName;
    }

    public String producerVersion() {
        return producerVersion;
    }

    public void setProducer(String name, String version) {
        this.producerName = name;
        this.producerVersion = version;
    }

    public String domain() {
        return domain;
    }

    public void setDomain(String domain) {
        this.domain = domain;
    }

    public long modelVersion() {
        return modelVersion;
    }

    public void setModelVersion(long modelVersion) {
        this.modelVersion = modelVersion;
    }

    public String docString() {
        return docString;
    }

    public void setDocString(String docString) {
        this.docString = docString;
    }

    /** metadata_props, in file order. Mutable. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Serialized FunctionProtos, carried unchanged. Mutable. */
    public List<byte[]> functions() {
        return functions;
    }

    /** The directory the model was read from (external data is resolved against it), or null. */
    public Path directory() {
        return directory;
    }

    public void setDirectory(Path directory) {
        this.directory = directory;
    }
}
