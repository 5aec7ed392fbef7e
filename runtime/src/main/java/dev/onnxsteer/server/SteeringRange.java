package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * The optional fields of a {@code steering} entry beyond {@code vector} and {@code scale}: {@code
 * layers: [FIRST, LAST]} (inclusive, as llama.cpp's {@code --control-vector-layer-range}) and {@code
 * op}. The served model steers by per-row addition only, so {@code op} may be {@code "add"}; {@code
 * ablate} and {@code clamp} are refused with the reason (a model compiled with {@code compile --op
 * ablate|clamp} does them for every request).
 */
final class SteeringRange {
    /** Every field a steering entry may have. */
    static final List<String> FIELDS = List.of("vector", "scale", "layers", "op");

    private SteeringRange() {}

    static SteeringTerm term(String vector, float scale, JsonNode item) {
        JsonNode op = item.get("op");
        if (op != null && !op.isNull()) {
            if (!op.isTextual() || !List.of("add", "ablate", "clamp").contains(op.textValue())) {
                throw ApiError.badRequest("steering", "steering op must be one of add, ablate, clamp, got " + op);
            }
            if (!op.textValue().equals("add")) {
                throw ApiError.badRequest("steering", "steering op " + op.textValue() + " is not available per request:"
                        + " this server steers by adding vectors to each row; compile the model with --op "
                        + op.textValue() + " and serve that");
            }
        }
        JsonNode layers = item.get("layers");
        if (layers == null || layers.isNull()) {
            return new SteeringTerm(vector, scale);
        }
        if (!layers.isArray() || layers.size() != 2 || !layers.get(0).canConvertToInt() || !layers.get(1).canConvertToInt()
                || !layers.get(0).isIntegralNumber() || !layers.get(1).isIntegralNumber()) {
            throw ApiError.badRequest("steering", "steering layers must be [FIRST, LAST] (two integers, inclusive), got "
                    + layers);
        }
        int first = layers.get(0).intValue();
        int last = layers.get(1).intValue();
        if (first < 0 || last < first) {
            throw ApiError.badRequest("steering", "steering layers [" + first + ", " + last
                    + "] must satisfy 0 <= FIRST <= LAST");
        }
        return new SteeringTerm(vector, scale, first, last);
    }
}
