package dev.onnxsteer.passes;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.ir.Model;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Records in a model's {@code metadata_props} what onnx-steer did to it: one JSON list of
 * operations ({@code onnx_steer.operations}) plus flat keys a person can read in any viewer.
 * Compiling a compiled model appends to the list.
 */
public final class Provenance {
    public static final String PREFIX = "onnx_steer.";
    public static final String OPERATIONS = PREFIX + "operations";
    private static final ObjectMapper JSON = new ObjectMapper();

    private Provenance() {}

    /**
     * One recorded operation. {@code tensor} names the initializer in the compiled model that carries
     * the change; {@code coefficientTensor} (input mode) the coefficient input; {@code originalBias}
     * (bias mode) the bias in the source model; {@code directionTensor} the unit direction of an
     * ablate, ablate-add or clamp with constant operands. Absent names are null. {@code positions}
     * is a {@link Positions} label; {@code bank} marks a per-row vector bank. For orthogonalize,
     * {@code site} is {@value #RESIDUAL_WRITES}, {@code mode} is {@code weights}, and {@code tensors}
     * and {@code originalTensors} list the rewritten weights (empty for other ops). A bias fold at a
     * sublayer input (attn_in, mlp_in) changes the biases of several projections by {@code c*v*W}, so
     * {@code tensor} and {@code originalBias} list them comma-separated and {@code added} records
     * {@code c*v} itself (null for other operations); {@code createdBias} says the projections had no
     * bias and were given one.
     */
    public record Operation(String op, String site, String mode, float coefficient, String vectorSha256,
            String tensor, String coefficientTensor, String originalBias, String positions, boolean preserveNorm,
            String directionTensor, boolean bank, List<String> tensors, List<String> originalTensors, float[] added,
            boolean createdBias) {
        public Operation {
            tensors = List.copyOf(tensors);
            originalTensors = List.copyOf(originalTensors);
        }
    }

    /** The site label recorded for weight orthogonalisation, which acts on every write into the stream. */
    public static final String RESIDUAL_WRITES = "residual_writes";

    public static void record(Model model, List<SteerPass.Applied> applied, String sourceModelSha256) {
        ArrayNode operations = readOperations(model);
        for (SteerPass.Applied step : applied) {
            ObjectNode op = operations.addObject();
            SteerOptions options = step.options();
            op.put("op", options.op().label());
            op.put("site", step.site().name());
            op.put("mode", step.mode().label());
            op.put("coefficient", step.steering().coefficient());
            op.put("vector_sha256", sha256(step.steering().vector()));
            op.put("positions", options.positions().label());
            op.put("preserve_norm", options.preserveNorm());
            if (step.tensor() != null) {
                op.put("tensor", step.tensor());
            }
            if (step.directionTensor() != null) {
                op.put("direction_tensor", step.directionTensor());
            }
            if (step.coefficientTensor() != null) {
                op.put("coefficient_tensor", step.coefficientTensor());
            }
            if (step.originalBias() != null) {
                op.put("original_bias", step.originalBias());
            }
            if (options.bank()) {
                op.put("bank", true);
            }
            // a bias created for a quantised producer has no original to subtract: record c*v itself
            boolean created = step.mode() == Mode.BIAS && step.originalBias() == null;
            if (step.mode() == Mode.BIAS && (step.site().kind().isSublayerInput() || created)) {
                float[] added = SteerPass.scaled(step.steering().vector(), step.steering().coefficient());
                op.put("added_f32le_base64", Base64.getEncoder().encodeToString(littleEndian(added)));
                if (created || step.site().projections().stream().anyMatch(p -> !p.hasBias())) {
                    op.put("created_bias", true);
                }
            }
        }
        finish(model, operations, sourceModelSha256);
    }

    /** Records a weight orthogonalisation along {@code vector}. */
    public static void recordOrthogonalize(Model model, float[] vector, List<OrthogonalizePass.Rewritten> rewritten,
            String sourceModelSha256) {
        ArrayNode operations = readOperations(model);
        ObjectNode op = operations.addObject();
        op.put("op", SteerOp.ORTHOGONALIZE.label());
        op.put("site", RESIDUAL_WRITES);
        op.put("mode", "weights");
        op.put("coefficient", 0f);
        op.put("vector_sha256", sha256(vector));
        op.put("positions", Positions.ALL.label());
        op.put("preserve_norm", false);
        ArrayNode tensors = op.putArray("tensors");
        ArrayNode originals = op.putArray("original_tensors");
        for (OrthogonalizePass.Rewritten r : rewritten) {
            tensors.add(r.tensor());
            originals.add(r.original());
        }
        QuantisedProvenance.recordRequantisation(op, rewritten);
        finish(model, operations, sourceModelSha256);
    }

    private static void finish(Model model, ArrayNode operations, String sourceModelSha256) {
        Set<String> ops = new LinkedHashSet<>();
        Set<String> sites = new LinkedHashSet<>();
        Set<String> layers = new LinkedHashSet<>();
        Set<String> coefficients = new LinkedHashSet<>();
        Set<String> hashes = new LinkedHashSet<>();
        Set<String> positions = new LinkedHashSet<>();
        for (var op : operations) {
            String site = op.get("site").asText();
            ops.add(op.path("op").asText("add"));
            sites.add(site);
            if (site.matches(".*\\.\\d+")) {
                layers.add(site.replaceAll(".*\\.", ""));
            }
            coefficients.add(op.get("coefficient").asText());
            hashes.add(op.get("vector_sha256").asText());
            positions.add(op.path("positions").asText("all"));
        }
        var metadata = model.metadata();
        metadata.put(PREFIX + "version", OnnxSteer.VERSION);
        metadata.put(OPERATIONS, operations.toString());
        metadata.put(PREFIX + "ops", String.join(",", ops));
        metadata.put(PREFIX + "sites", String.join(",", sites));
        metadata.put(PREFIX + "layers", String.join(",", layers));
        metadata.put(PREFIX + "coefficients", String.join(",", coefficients));
        metadata.put(PREFIX + "positions", String.join(",", positions));
        metadata.put(PREFIX + "vector_sha256", String.join(",", hashes));
        List<String> runtimeInputs = LiftInputDefaults.steeringInputs(model);
        if (runtimeInputs.isEmpty()) {
            metadata.remove(RUNTIME_INPUTS);
        } else {
            metadata.put(RUNTIME_INPUTS, String.join(",", runtimeInputs));
        }
        metadata.putIfAbsent(PREFIX + "source_model_sha256", sourceModelSha256);
    }

    /**
     * Metadata key listing the graph inputs with defaults that onnx-steer added and a runtime may
     * override per run (steering vectors, a bank's index and scale, the prompt length).
     */
    public static final String RUNTIME_INPUTS = PREFIX + "runtime_inputs";

    /** The operations recorded in a model, oldest first; empty for a model onnx-steer never touched. */
    public static List<Operation> operations(Model model) {
        return operations(model.metadata().get(OPERATIONS));
    }

    /** The operations in an {@value #OPERATIONS} JSON value (null or unreadable: none). */
    public static List<Operation> operations(String json) {
        List<Operation> operations = new ArrayList<>();
        for (JsonNode op : parse(json)) {
            operations.add(new Operation(op.path("op").asText("add"), op.path("site").asText(), op.path("mode").asText(),
                    (float) op.path("coefficient").asDouble(), op.path("vector_sha256").asText(), text(op, "tensor"),
                    text(op, "coefficient_tensor"), text(op, "original_bias"), op.path("positions").asText("all"),
                    op.path("preserve_norm").asBoolean(false), text(op, "direction_tensor"), op.path("bank").asBoolean(false),
                    strings(op.path("tensors")), strings(op.path("original_tensors")), added(op),
                    op.path("created_bias").asBoolean(false)));
        }
        return operations;
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        if (array.isArray()) {
            array.forEach(n -> out.add(n.asText()));
        }
        return out;
    }

    private static float[] added(JsonNode op) {
        String text = text(op, "added_f32le_base64");
        if (text == null) {
            return null;
        }
        ByteBuffer bytes = ByteBuffer.wrap(Base64.getDecoder().decode(text)).order(ByteOrder.LITTLE_ENDIAN);
        float[] values = new float[bytes.remaining() / 4];
        bytes.asFloatBuffer().get(values);
        return values;
    }

    private static byte[] littleEndian(float[] values) {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(values);
        return bytes.array();
    }

    private static String text(JsonNode node, String field) {
        return node.hasNonNull(field) ? node.get(field).asText() : null;
    }

    private static ArrayNode readOperations(Model model) {
        return parse(model.metadata().get(OPERATIONS));
    }

    private static ArrayNode parse(String existing) {
        if (existing == null) {
            return JSON.createArrayNode();
        }
        try {
            return (ArrayNode) JSON.readTree(existing);
        } catch (IOException | ClassCastException e) {
            return JSON.createArrayNode();
        }
    }

    public static String sha256(float[] vector) {
        return HexFormat.of().formatHex(digest().digest(littleEndian(vector)));
    }

    /** sha256 of a file, streamed. */
    public static String sha256(Path file) {
        MessageDigest digest = digest();
        byte[] buffer = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
