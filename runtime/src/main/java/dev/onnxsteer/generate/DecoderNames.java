package dev.onnxsteer.generate;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The names a decoder's runtime feeds and reads, as onnxruntime-genai's {@code genai_config.json} writes them
 * down ({@code model.decoder.inputs} / {@code outputs}); cache names are patterns with {@code %d} for the layer.
 * {@link #OPTIMUM} holds the names Optimum exports and the genai model builder both use.
 *
 * @param fromGenaiConfig whether a {@code genai_config.json} gave these names (not a sign of GroupQueryAttention:
 *                        the ORT-fused GPT-2 carries one too; {@link ModelLayout} looks at the graph's operators)
 */
public record DecoderNames(String inputIds, String attentionMask, String positionIds, String pastKey,
        String pastValue, String logits, String presentKey, String presentValue, boolean fromGenaiConfig) {

    public static final DecoderNames OPTIMUM = new DecoderNames("input_ids", "attention_mask", "position_ids",
            "past_key_values.%d.key", "past_key_values.%d.value", "logits", "present.%d.key", "present.%d.value", false);

    /**
     * Reads the {@code decoder} section of a {@code genai_config.json}'s {@code model} object; a name it leaves
     * out keeps the {@link #OPTIMUM} default.
     *
     * @throws BadModelException when a name is not a string or a cache pattern lacks its {@code %d}
     */
    static DecoderNames fromGenai(Path file, JsonNode model) {
        JsonNode decoder = model.path("decoder");
        JsonNode inputs = decoder.path("inputs");
        JsonNode outputs = decoder.path("outputs");
        return new DecoderNames(
                name(file, inputs, "input_ids", OPTIMUM.inputIds, false),
                name(file, inputs, "attention_mask", OPTIMUM.attentionMask, false),
                name(file, inputs, "position_ids", OPTIMUM.positionIds, false),
                name(file, inputs, "past_key_names", OPTIMUM.pastKey, true),
                name(file, inputs, "past_value_names", OPTIMUM.pastValue, true),
                name(file, outputs, "logits", OPTIMUM.logits, false),
                name(file, outputs, "present_key_names", OPTIMUM.presentKey, true),
                name(file, outputs, "present_value_names", OPTIMUM.presentValue, true),
                true);
    }

    private static String name(Path file, JsonNode section, String key, String fallback, boolean perLayer) {
        JsonNode value = section.get(key);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isTextual() || value.asText().isEmpty()) {
            throw new BadModelException(FileProblem.message(file, "decoder name \"" + key + "\" is not a name",
                    "a non-empty string", value.toString()));
        }
        String name = value.asText();
        if (perLayer && !name.contains("%d")) {
            throw new BadModelException(FileProblem.message(file, "decoder name \"" + key + "\" has no layer number",
                    "a pattern with %d, e.g. " + fallback, name));
        }
        return name;
    }

    /** The layer of a past-key input named {@code name}, if it is one. */
    OptionalInt pastKeyLayer(String name) {
        return layer(pastKey, name);
    }

    /** The layer of a past-value input named {@code name}, if it is one. */
    OptionalInt pastValueLayer(String name) {
        return layer(pastValue, name);
    }

    String presentKey(int layer) {
        return presentKey.replace("%d", Integer.toString(layer));
    }

    String presentValue(int layer) {
        return presentValue.replace("%d", Integer.toString(layer));
    }

    private static OptionalInt layer(String pattern, String name) {
        int at = pattern.indexOf("%d");
        Matcher m = Pattern.compile(Pattern.quote(pattern.substring(0, at)) + "(\\d+)"
                + Pattern.quote(pattern.substring(at + 2))).matcher(name);
        return m.matches() ? OptionalInt.of(Integer.parseInt(m.group(1))) : OptionalInt.empty();
    }
}
