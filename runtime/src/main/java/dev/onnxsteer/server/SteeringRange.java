package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.passes.SteerOp;
import java.util.List;

/**
 * The optional fields of a {@code steering} entry beyond {@code vector} and {@code scale}: {@code sae}, {@code
 * feature} and {@code unit} in place of {@code vector} (a registered SAE's feature), {@code
 * layers: [FIRST, LAST]} (inclusive, as llama.cpp's {@code --control-vector-layer-range}), {@code
 * op} ({@code add}, {@code ablate} or {@code clamp}) and, for clamp, {@code value} (the projection on
 * the direction is set to it). As on the command line, ablate uses only the direction (no {@code
 * scale}) and clamp takes {@code value}, not {@code scale}. Whether the served model can ablate or
 * clamp per request is checked when the request is bound ({@link InputModeSteering#validate}).
 */
final class SteeringRange {
    /** Every field a steering entry may have. */
    static final List<String> FIELDS = List.of("vector", "scale", "layers", "op", "value", "sae", "feature", "unit");

    private SteeringRange() {}

    /**
     * The SAE feature an entry names with {@code sae}, {@code feature} and optional {@code unit}; null for an entry
     * without {@code sae}. Whether the SAE is registered and has the feature is checked when the request is bound.
     */
    static SteeringTerm.Feature feature(JsonNode item) {
        JsonNode sae = item.get("sae");
        JsonNode feature = item.get("feature");
        JsonNode unit = item.get("unit");
        if (sae == null || sae.isNull()) {
            if ((feature != null && !feature.isNull()) || (unit != null && !unit.isNull())) {
                throw ApiError.badRequest("steering", "steering feature and unit go with sae: {\"sae\": NAME, \"feature\": N}");
            }
            return null;
        }
        if (item.hasNonNull("vector")) {
            throw ApiError.badRequest("steering", "a steering entry names a vector or an SAE feature, not both");
        }
        if (!sae.isTextual()) {
            throw ApiError.badRequest("steering", "steering sae must be the name of a registered SAE (a string), got "
                    + RequestFields.kind(sae));
        }
        if (feature == null || !feature.isIntegralNumber() || !feature.canConvertToInt() || feature.intValue() < 0) {
            throw ApiError.badRequest("steering", "steering feature must be a feature of the SAE (an integer >= 0), got "
                    + (feature == null ? "nothing" : RequestFields.shown(feature)));
        }
        if (unit != null && !unit.isNull() && !unit.isBoolean()) {
            throw ApiError.badRequest("steering", "steering unit must be true or false, got " + RequestFields.shown(unit));
        }
        return new SteeringTerm.Feature(RequestFields.checkedText("steering", sae.textValue()), feature.intValue(),
                unit != null && unit.asBoolean());
    }

    /** The entry {@code item} for {@code vector} (a feature's label when {@code feature} is not null). */
    static SteeringTerm term(String vector, SteeringTerm.Feature feature, float scale, JsonNode item) {
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
            return new SteeringTerm(vector, scale, SteeringTerm.ALL_LAYERS, SteeringTerm.ALL_LAYERS, op, value, feature);
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
        return new SteeringTerm(vector, scale, first, last, op, value, feature);
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
