package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.passes.SteerOp;
import java.util.List;

/**
 * The optional fields of a {@code steering} entry beyond {@code vector} and {@code scale}: {@code
 * layers: [FIRST, LAST]} (inclusive, as llama.cpp's {@code --control-vector-layer-range}), {@code
 * op} ({@code add}, {@code ablate} or {@code clamp}) and, for clamp, {@code value} (the projection on
 * the direction is set to it). As on the command line, ablate uses only the direction (no {@code
 * scale}) and clamp takes {@code value}, not {@code scale}. Whether the served model can ablate or
 * clamp per request is checked when the request is bound ({@link InputModeSteering#validate}).
 */
final class SteeringRange {
    /** Every field a steering entry may have. */
    static final List<String> FIELDS = List.of("vector", "scale", "layers", "op", "value");

    private SteeringRange() {}

    static SteeringTerm term(String vector, float scale, JsonNode item) {
        SteerOp op = op(item.get("op"));
        boolean scaled = item.hasNonNull("scale");
        JsonNode valueNode = item.get("value");
        Float value = null;
        if (op == SteerOp.ABLATE && scaled) {
            throw ApiError.badRequest("steering", "steering op ablate uses only the vector's direction; scale does not apply");
        }
        if (op == SteerOp.CLAMP) {
            if (scaled) {
                throw ApiError.badRequest("steering", "steering op clamp takes its strength from value, not scale");
            }
            if (valueNode == null || !valueNode.isNumber() || !Float.isFinite(valueNode.floatValue())
                    || Math.abs(valueNode.floatValue()) > 1e4) {
                throw ApiError.badRequest("steering", "steering op clamp needs value: a finite number of magnitude at most"
                        + " 10000 (the projection on the direction is set to it), got "
                        + (valueNode == null ? "nothing" : RequestFields.shown(valueNode)));
            }
            value = valueNode.floatValue();
        } else if (valueNode != null && !valueNode.isNull()) {
            throw ApiError.badRequest("steering", "steering value only applies to op clamp (this entry is op " + op.label() + ")");
        }
        JsonNode layers = item.get("layers");
        if (layers == null || layers.isNull()) {
            return new SteeringTerm(vector, scale, SteeringTerm.ALL_LAYERS, SteeringTerm.ALL_LAYERS, op, value);
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
        return new SteeringTerm(vector, scale, first, last, op, value);
    }

    private static SteerOp op(JsonNode op) {
        if (op == null || op.isNull()) {
            return SteerOp.ADD;
        }
        for (SteerOp allowed : SteeringTerm.OPS) {
            if (op.isTextual() && op.textValue().equals(allowed.label())) {
                return allowed;
            }
        }
        throw ApiError.badRequest("steering", "steering op must be one of add, ablate, clamp, got " + op);
    }
}
