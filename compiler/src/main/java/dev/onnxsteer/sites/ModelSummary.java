package dev.onnxsteer.sites;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What {@code inspect} shows about a model: header, inputs and outputs, weights, operators, the
 * steering sites discovery found and the {@code onnx_steer.*} metadata of a compiled model. Plain
 * data; {@link #toJsonTree()} renders it as JSON, the CLI's {@code InspectTable} as text.
 *
 * @param opsets    domain ("ai.onnx" for the default domain) to version, in file order
 * @param ops       node count per operator over all graphs, "domain.Op" outside the default domain,
 *                  most frequent first
 * @param steering  the model's {@code onnx_steer.*} metadata_props
 */
public record ModelSummary(String file, long irVersion, Map<String, Long> opsets, String producer,
        List<Port> inputs, List<Port> outputs, Weights weights, int nodes, Map<String, Integer> ops,
        String layout, int layers, long hiddenSize, List<SiteInfo> sites, List<String> notes,
        Map<String, String> steering) {

    /** A graph input or output; {@code shape} is null when the rank is unknown, dtype "non-tensor" for other types. */
    public record Port(String name, String dtype, List<Dim> shape) {
        public String shapeText() {
            return shape == null ? "?" : shape.stream().map(Dim::toString).collect(Collectors.joining(", ", "[", "]"));
        }
    }

    /** Initializers over all graphs, inline (in the .onnx file) and external (in data files) counted apart. */
    public record Weights(int count, long inlineBytes, int externalCount, long externalBytes, int externalFiles) {}

    /**
     * One site: {@code bias} is the initializer a constant could be folded into (for a sublayer input,
     * the biases of the projections reading it, comma-separated), or null; when {@code biasCreated}, there is no
     * initializer yet and {@code bias} says which projection input a compile in bias mode gives one
     * ({@link BiasInputs}); {@code aliases} are the other names that resolve to it (TransformerLens hook name,
     * Hugging Face module paths).
     */
    public record SiteInfo(String name, String kind, int layer, String tensor, String graph, long hiddenSize, String bias,
            boolean biasCreated, List<String> aliases) {
        public SiteInfo {
            aliases = List.copyOf(aliases);
        }

        public boolean biasFoldable() {
            return bias != null;
        }
    }

    public ModelSummary {
        opsets = Collections.unmodifiableMap(new LinkedHashMap<>(opsets));
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        ops = Collections.unmodifiableMap(new LinkedHashMap<>(ops));
        sites = List.copyOf(sites);
        notes = List.copyOf(notes);
        steering = Collections.unmodifiableMap(new LinkedHashMap<>(steering));
    }

    /** Summarises {@code model} (read from {@code file}), running site discovery. */
    public static ModelSummary of(Model model, String file) {
        return of(model, file, SiteFinder.find(model));
    }

    public static ModelSummary of(Model model, String file, SiteMap siteMap) {
        Map<String, Long> opsets = new LinkedHashMap<>();
        model.opsets().forEach((domain, version) -> opsets.put(domain.isEmpty() ? "ai.onnx" : domain, version));
        String producer = (model.producerName() + " " + model.producerVersion()).trim();
        Graph main = model.graph();
        List<Port> inputs = main.inputs().stream().filter(v -> !v.isInitializer()).map(ModelSummary::port).toList();
        List<Port> outputs = main.outputs().stream().map(ModelSummary::port).toList();

        Set<Value> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        int count = 0;
        int externalCount = 0;
        long inline = 0;
        long external = 0;
        Set<String> files = new HashSet<>();
        Map<String, Integer> histogram = new HashMap<>();
        int nodes = 0;
        for (Graph graph : main.allGraphs()) {
            for (Value v : graph.initializers()) {
                if (!seen.add(v)) {
                    continue;
                }
                count++;
                Tensor t = v.initializer();
                if (t.storage() instanceof Tensor.External ext) {
                    externalCount++;
                    external += t.byteSize();
                    files.add(ext.file().toAbsolutePath().normalize().toString());
                } else {
                    inline += t.byteSize();
                }
            }
            for (Node node : graph.nodes()) {
                nodes++;
                String op = node.domain().isEmpty() ? node.opType() : node.domain() + "." + node.opType();
                histogram.merge(op, 1, Integer::sum);
            }
        }
        Map<String, Integer> ops = new LinkedHashMap<>();
        histogram.entrySet().stream()
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .forEach(e -> ops.put(e.getKey(), e.getValue()));

        List<SiteInfo> sites = new ArrayList<>();
        SiteNames.Aliases aliases = new SiteNames.Aliases(siteMap);
        for (Site site : siteMap.sites()) {
            sites.add(new SiteInfo(site.name(), site.kind().label(), site.layer(), site.value().name(), site.graph().name(),
                    site.hiddenSize(), biasText(site), !site.biasFoldable() && BiasInputs.freeBiasInput(site) != null,
                    aliases.of(site)));
        }
        Map<String, String> steering = new LinkedHashMap<>();
        model.metadata().forEach((key, value) -> {
            if (key.startsWith(CompiledModelAbi.METADATA_PREFIX)) {
                steering.put(key, value);
            }
        });
        return new ModelSummary(file, model.irVersion(), opsets, producer, inputs, outputs,
                new Weights(count, inline, externalCount, external, files.size()), nodes, ops, siteMap.layout(),
                siteMap.layerCount(), siteMap.hiddenSize(), sites, siteMap.notes(), steering);
    }

    private static String biasText(Site site) {
        Node created = site.biasFoldable() ? null : BiasInputs.freeBiasInput(site);
        if (created != null) {
            return "new input " + Layouts.biasInput(created) + " of " + created.name();
        }
        if (!site.biasFoldable()) {
            return null;
        }
        if (site.kind().isSublayerInput()) {
            return site.projections().stream().map(p -> p.bias().initializer().name()).distinct()
                    .collect(Collectors.joining(","));
        }
        return site.bias().initializer().name();
    }

    private static Port port(Value v) {
        ValueType type = v.type();
        if (type instanceof ValueType.Tensor t) {
            return new Port(v.name(), t.elementType().label(), t.shape());
        }
        return new Port(v.name(), type == null ? "?" : "non-tensor", null);
    }

    // ---------------------------------------------------------------------------------------------
    // JSON

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The summary as a JSON tree with a fixed field order. */
    public ObjectNode toJsonTree() {
        ObjectNode root = JSON.createObjectNode();
        root.put("file", file);
        root.put("irVersion", irVersion);
        ObjectNode opsetNode = root.putObject("opsets");
        opsets.forEach(opsetNode::put);
        root.put("producer", producer);
        ports(root.putArray("inputs"), inputs);
        ports(root.putArray("outputs"), outputs);
        ObjectNode w = root.putObject("initializers");
        w.put("count", weights.count());
        w.put("inlineBytes", weights.inlineBytes());
        w.put("externalCount", weights.externalCount());
        w.put("externalBytes", weights.externalBytes());
        w.put("externalFiles", weights.externalFiles());
        root.put("nodes", nodes);
        ObjectNode opNode = root.putObject("ops");
        ops.forEach(opNode::put);
        root.put("layout", layout);
        root.put("layers", layers);
        root.put("hiddenSize", hiddenSize);
        ArrayNode siteArray = root.putArray("sites");
        for (SiteInfo s : sites) {
            ObjectNode o = siteArray.addObject();
            o.put("name", s.name());
            o.put("kind", s.kind());
            o.put("layer", s.layer());
            o.put("tensor", s.tensor());
            o.put("graph", s.graph());
            o.put("hiddenSize", s.hiddenSize());
            o.put("biasFoldable", s.biasFoldable());
            o.put("bias", s.bias());
            o.put("biasCreated", s.biasCreated());
            ArrayNode names = o.putArray("aliases");
            s.aliases().forEach(names::add);
        }
        ArrayNode noteArray = root.putArray("notes");
        notes.forEach(noteArray::add);
        ObjectNode meta = root.putObject("steering");
        steering.forEach(meta::put);
        return root;
    }

    private static void ports(ArrayNode array, List<Port> ports) {
        for (Port p : ports) {
            ObjectNode o = array.addObject();
            o.put("name", p.name());
            o.put("dtype", p.dtype());
            if (p.shape() == null) {
                o.putNull("shape");
            } else {
                ArrayNode shape = o.putArray("shape");
                for (Dim d : p.shape()) {
                    if (d.isFixed()) {
                        shape.add(d.value());
                    } else if (d.param() != null) {
                        shape.add(d.param());
                    } else {
                        shape.addNull();
                    }
                }
            }
        }
    }
}
