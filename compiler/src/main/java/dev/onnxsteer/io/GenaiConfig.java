package dev.onnxsteer.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * onnxruntime-genai's {@code genai_config.json} beside a compiled model, kept true to the graph written next to it.
 * onnxruntime-genai feeds a decoder only the inputs {@code model.decoder.inputs} names and reads only the outputs
 * {@code model.decoder.outputs} names; both sections have a fixed set of keys (its config parser refuses any other),
 * so an input onnx-steer adds cannot be named there. What this does to the copied file:
 * <ul>
 *   <li>{@code model.decoder.filename} becomes {@value ModelFiles#MODEL_FILE}, the file a compile writes;</li>
 *   <li>an input or output key whose name the compiled graph no longer has is dropped (onnxruntime-genai would
 *       fail to bind it);</li>
 * </ul>
 * and it reports, one line each, the inputs onnxruntime-genai cannot feed (required, with no key for them: a
 * conditional steering state, a cut site) and the added inputs it leaves at their defaults.
 */
public final class GenaiConfig {
    public static final String FILE = "genai_config.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** What an update changed in the file and what onnxruntime-genai will make of the model. */
    public record Update(List<String> changes, List<String> unfed, List<String> defaulted) {
        public Update {
            changes = List.copyOf(changes);
            unfed = List.copyOf(unfed);
            defaulted = List.copyOf(defaulted);
        }

        /** One line per finding, for a compile's output; empty when there is nothing to say. */
        public List<String> notes() {
            List<String> notes = new ArrayList<>();
            changes.forEach(c -> notes.add(FILE + ": " + c));
            if (!unfed.isEmpty()) {
                notes.add("onnxruntime-genai cannot feed " + String.join(", ", unfed) + ": required input"
                        + (unfed.size() == 1 ? "" : "s") + " that " + FILE + " has no key for (its decoder section "
                        + "names only the inputs onnxruntime-genai knows); run this model with onnx-steer generate or "
                        + "serve, or ONNX Runtime feeding " + (unfed.size() == 1 ? "it" : "them") + " yourself");
            }
            if (!defaulted.isEmpty()) {
                notes.add("onnxruntime-genai runs " + String.join(", ", defaulted) + " at "
                        + (defaulted.size() == 1 ? "its default" : "their defaults") + " (" + FILE
                        + " cannot name " + (defaulted.size() == 1 ? "it" : "them") + ")");
            }
            return notes;
        }
    }

    private GenaiConfig() {}

    /**
     * Rewrites {@code dir}'s {@value #FILE} (a copy of the source's) for {@code model}, the graph written beside it;
     * the file is rewritten only when something in it changes. An absent file, or one without a
     * {@code model.decoder} object, is left alone and gives an empty update.
     */
    public static Update update(Model model, Path dir) throws IOException {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            return new Update(List.of(), List.of(), List.of());
        }
        JsonNode root = JsonFiles.read(file);
        JsonNode decoderNode = root.path("model").path("decoder");
        if (!(decoderNode instanceof ObjectNode decoder)) {
            return new Update(List.of(), List.of(), List.of());
        }
        List<String> changes = new ArrayList<>();
        if (!ModelFiles.MODEL_FILE.equals(decoder.path("filename").asText(null))) {
            changes.add("decoder filename " + decoder.path("filename") + " -> \"" + ModelFiles.MODEL_FILE + "\"");
            decoder.put("filename", ModelFiles.MODEL_FILE);
        }
        List<String> inputs = model.graph().inputs().stream().map(Value::name).toList();
        List<String> outputs = model.graph().outputs().stream().map(Value::name).toList();
        List<Pattern> fed = dropMissing(decoder.path("inputs"), inputs, "input", changes);
        dropMissing(decoder.path("outputs"), outputs, "output", changes);
        List<String> unfed = new ArrayList<>();
        List<String> defaulted = new ArrayList<>();
        List<String> added = CompiledModelAbi.overridableInputs(model);
        for (Value input : model.graph().inputs()) {
            if (fed.stream().anyMatch(p -> p.matcher(input.name()).matches())) {
                continue;
            }
            if (!input.isInitializer()) {
                unfed.add(input.name());
            } else if (added.contains(input.name())) {
                defaulted.add(input.name());
            }
        }
        if (!changes.isEmpty()) {
            AtomicFiles.write(file, (JSON.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        return new Update(changes, unfed, defaulted);
    }

    /**
     * The names {@code section} ({@code decoder.inputs} or {@code decoder.outputs}) gives, as patterns ({@code %d}
     * is a layer index); removes each key whose name matches none of {@code present}, saying so in {@code changes}.
     */
    private static List<Pattern> dropMissing(JsonNode section, List<String> present, String what, List<String> changes) {
        List<Pattern> patterns = new ArrayList<>();
        if (!(section instanceof ObjectNode object)) {
            return patterns;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = object.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            if (!entry.getValue().isTextual()) {
                continue;
            }
            Pattern pattern = namePattern(entry.getValue().asText());
            if (present.stream().noneMatch(n -> pattern.matcher(n).matches())) {
                changes.add("dropped " + what + " " + entry.getKey() + " = \"" + entry.getValue().asText()
                        + "\": the compiled model has no such " + what);
                it.remove();
            } else {
                patterns.add(pattern);
            }
        }
        return patterns;
    }

    /** {@code past_key_values.%d.key} as a pattern matching {@code past_key_values.0.key}, ... */
    private static Pattern namePattern(String name) {
        String[] parts = name.split("%d", -1);
        StringBuilder regex = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            regex.append(Pattern.quote(parts[i]));
            if (i < parts.length - 1) {
                regex.append("\\d+");
            }
        }
        return Pattern.compile(regex.toString());
    }
}
