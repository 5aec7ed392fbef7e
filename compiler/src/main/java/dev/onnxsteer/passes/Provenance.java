package dev.onnxsteer.passes;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.io.CompiledModelAbi;
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

import static dev.onnxsteer.io.CompiledModelAbi.OPERATIONS;
import static dev.onnxsteer.io.CompiledModelAbi.RUNTIME_INPUTS;

/**
 * Records in a model's {@code metadata_props} what onnx-steer did to it: one JSON list of
 * operations ({@value CompiledModelAbi#OPERATIONS}) plus flat keys a person can read in any viewer
 * (the keys are {@link CompiledModelAbi}'s). Compiling a compiled model appends to the list; a list
 * that cannot be read is refused ({@link BadModelException}), never silently replaced.
 * {@link #recording} and {@link #recordingOrthogonalize} are the passes {@link Compilation} runs.
 */
public final class Provenance {
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

    /**
     * The pass recording what {@code steering} applied (read when it runs, after {@code steering} ran) in
     * the model read from {@code sourceFile} (named when its record cannot be read).
     */
    public static Pass recording(SteerPass steering, String sourceModelSha256, Path sourceFile) {
        return model -> {
            record(model, steering.applied(), sourceModelSha256, sourceFile.toString());
            return PassResult.changed("recorded " + steering.applied().size() + " operations in " + OPERATIONS);
        };
    }

    /** The pass recording what {@code pass} rewrote along {@code vector}, as {@link #recording}. */
    public static Pass recordingOrthogonalize(OrthogonalizePass pass, float[] vector, String sourceModelSha256,
            Path sourceFile) {
        return model -> {
            recordOrthogonalize(model, vector, pass.rewritten(), sourceModelSha256, sourceFile.toString());
            return PassResult.changed("recorded orthogonalize in " + OPERATIONS);
        };
    }

    public static void record(Model model, List<SteerPass.Applied> applied, String sourceModelSha256) {
        record(model, applied, sourceModelSha256, where(model));
    }

    private static void record(Model model, List<SteerPass.Applied> applied, String sourceModelSha256, String file) {
        ArrayNode operations = parse(model.metadata().get(OPERATIONS), file);
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
                float[] added = VectorMath.scaled(step.steering().vector(), step.steering().coefficient());
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
        recordOrthogonalize(model, vector, rewritten, sourceModelSha256, where(model));
    }

    private static void recordOrthogonalize(Model model, float[] vector, List<OrthogonalizePass.Rewritten> rewritten,
            String sourceModelSha256, String file) {
        ArrayNode operations = parse(model.metadata().get(OPERATIONS), file);
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
        metadata.put(CompiledModelAbi.VERSION, OnnxSteer.VERSION);
        metadata.put(OPERATIONS, operations.toString());
        metadata.put(CompiledModelAbi.OPS, String.join(",", ops));
        metadata.put(CompiledModelAbi.SITES, String.join(",", sites));
        metadata.put(CompiledModelAbi.LAYERS, String.join(",", layers));
        metadata.put(CompiledModelAbi.COEFFICIENTS, String.join(",", coefficients));
        metadata.put(CompiledModelAbi.POSITIONS, String.join(",", positions));
        metadata.put(CompiledModelAbi.VECTOR_SHA256, String.join(",", hashes));
        List<String> runtimeInputs = CompiledModelAbi.overridableInputs(model);
        if (runtimeInputs.isEmpty()) {
            metadata.remove(RUNTIME_INPUTS);
        } else {
            metadata.put(RUNTIME_INPUTS, String.join(",", runtimeInputs));
        }
        metadata.putIfAbsent(CompiledModelAbi.SOURCE_MODEL_SHA256, sourceModelSha256);
    }

    /**
     * Metadata key listing the graph inputs with defaults that onnx-steer added and a runtime may
     * override per run (steering vectors, a bank's index and scale, the prompt length).
     */

    /**
     * The operations recorded in a model, oldest first; empty for a model onnx-steer never touched.
     *
     * @throws BadModelException when the record is there but is not a JSON list of operations
     */
    public static List<Operation> operations(Model model) {
        return operations(model.metadata().get(OPERATIONS), where(model));
    }

    /** The operations in an {@value CompiledModelAbi#OPERATIONS} JSON value (null: none) of an unnamed model. */
    public static List<Operation> operations(String json) {
        return operations(json, "the model");
    }

    /**
     * The operations in an {@value CompiledModelAbi#OPERATIONS} JSON value (null: none) of the model {@code file}.
     *
     * @throws BadModelException naming the key and {@code file} when the value is not a JSON list of objects
     */
    public static List<Operation> operations(String json, String file) {
        List<Operation> operations = new ArrayList<>();
        for (JsonNode op : parse(json, file)) {
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

    /** The model file a model was read from, as far as the IR knows it (its directory). */
    private static String where(Model model) {
        return model.directory() == null ? "the model" : "the model in " + model.directory();
    }

    private static ArrayNode parse(String existing, String file) {
        if (existing == null) {
            return JSON.createArrayNode();
        }
        JsonNode tree;
        try {
            tree = JSON.readTree(existing);
        } catch (JsonProcessingException e) {
            throw malformed(file, "is not JSON (" + e.getOriginalMessage().replaceAll("\\s*\\(start marker.*", "")
                    + " at character " + (e.getLocation() == null ? "?" : e.getLocation().getCharOffset() + 1) + ")");
        }
        if (!(tree instanceof ArrayNode array)) {
            throw malformed(file, "is a JSON " + tree.getNodeType().toString().toLowerCase(java.util.Locale.ROOT)
                    + ", expected a list of operations");
        }
        for (int i = 0; i < array.size(); i++) {
            JsonNode op = array.get(i);
            if (!op.isObject() || !op.path("site").isTextual() || !op.path("coefficient").isNumber()
                    || !op.path("vector_sha256").isTextual()) {
                throw malformed(file, "has entry " + i + " " + abbreviated(op.toString())
                        + ", expected an object with site, coefficient and vector_sha256");
            }
        }
        return array;
    }

    private static BadModelException malformed(String file, String problem) {
        return new BadModelException("metadata " + OPERATIONS + " of " + file + " " + problem
                + "; onnx-steer will not overwrite a steering record it cannot read (remove the key to start a new one)");
    }

    private static String abbreviated(String text) {
        return text.length() <= 80 ? text : text.substring(0, 77) + "...";
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
