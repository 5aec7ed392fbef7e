package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.SamplingConfig;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * A parsed and checked {@code POST /v1/completions} body: the OpenAI completions fields onnx-steer
 * understands plus {@code steering}. Other fields OpenAI clients send ({@code model}, {@code user},
 * ...) are ignored; fields that would change the answer in ways not supported ({@code n} other than
 * 1, {@code logprobs}, {@code echo}, {@code best_of}, {@code suffix}) are refused.
 *
 * @param temperature OpenAI's default is 1; 0 is greedy
 */
public record CompletionRequest(String prompt, int maxTokens, double temperature, double topP, OptionalLong seed,
        List<String> stop, boolean stream, List<SteeringTerm> steering) {

    /** OpenAI's default {@code max_tokens} for completions. */
    public static final int DEFAULT_MAX_TOKENS = 16;
    /** OpenAI's limit on stop sequences. */
    public static final int MAX_STOP = 4;

    public CompletionRequest {
        stop = List.copyOf(stop);
        steering = List.copyOf(steering);
    }

    /** The generation settings of this request (top-k and repetition penalty off, default EOS, with cache). */
    public GenerationConfig generation() {
        return new GenerationConfig(maxTokens, new SamplingConfig(temperature, 0, topP, 1, seed), stop, List.of(), true);
    }

    /**
     * Parses a request body.
     *
     * @param maxTokensLimit the largest {@code max_tokens} accepted
     * @throws ApiError 400 naming the field for wrong types and out-of-range values
     */
    public static CompletionRequest parse(JsonNode body, int maxTokensLimit) {
        RequestFields fields = RequestFields.of(body);
        String prompt = prompt(fields.get("prompt"));
        int maxTokens = fields.integer("max_tokens", 1, maxTokensLimit, DEFAULT_MAX_TOKENS);
        double temperature = fields.number("temperature", 1.0);
        RequestFields.range("temperature", temperature >= 0 && temperature <= 2, "between 0 and 2", temperature);
        double topP = fields.number("top_p", 1.0);
        RequestFields.range("top_p", topP > 0 && topP <= 1, "in (0, 1]", topP);
        OptionalLong seed = fields.optionalLong("seed");
        List<String> stop = fields.stringList("stop", MAX_STOP);
        boolean stream = fields.bool("stream", false);
        JsonNode n = fields.get("n");
        if (n != null && !(n.isIntegralNumber() && n.canConvertToInt() && n.intValue() == 1)) {
            throw ApiError.badRequest("n", "only n = 1 is supported, got " + RequestFields.shown(n));
        }
        for (String unsupported : List.of("logprobs", "echo", "best_of", "suffix")) {
            JsonNode v = fields.get(unsupported);
            if (v != null && !(v.isBoolean() && !v.booleanValue())
                    && !(unsupported.equals("best_of") && v.isIntegralNumber() && v.canConvertToInt() && v.intValue() == 1)) {
                throw ApiError.badRequest(unsupported, unsupported + " is not supported");
            }
        }
        return new CompletionRequest(prompt, maxTokens, temperature, topP, seed, stop, stream, steering(fields.get("steering")));
    }

    private static String prompt(JsonNode node) {
        if (node == null) {
            return "";
        }
        if (node.isTextual()) {
            return RequestFields.checkedText("prompt", node.textValue());
        }
        if (node.isArray() && node.size() == 1 && node.get(0).isTextual()) {
            return RequestFields.checkedText("prompt", node.get(0).textValue());
        }
        if (node.isArray()) {
            throw ApiError.badRequest("prompt", "prompt must be a string (or a list of exactly one string), got a list of "
                    + node.size());
        }
        throw RequestFields.wrong("prompt", "a string", node);
    }

    private static List<SteeringTerm> steering(JsonNode node) {
        List<SteeringTerm> terms = new ArrayList<>();
        if (node == null || node.isNull()) {
            return terms;
        }
        if (!node.isArray()) {
            throw ApiError.badRequest("steering", "steering must be a list of {\"vector\": NAME, \"scale\": C}, got "
                    + RequestFields.kind(node));
        }
        if (node.size() > 16) {
            throw ApiError.badRequest("steering", "at most 16 steering entries, got " + node.size());
        }
        for (JsonNode item : node) {
            if (!item.isObject()) {
                throw ApiError.badRequest("steering", "each steering entry must be an object {\"vector\": NAME, \"scale\": C}, got "
                        + RequestFields.kind(item));
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = item.fields(); it.hasNext(); ) {
                String key = it.next().getKey();
                if (!SteeringRange.FIELDS.contains(key)) {
                    throw ApiError.badRequest("steering", "unknown steering field '" + FileProblem.printable(key)
                            + "'; expected " + String.join(", ", SteeringRange.FIELDS));
                }
            }
            SteeringTerm.Feature feature = SteeringRange.feature(item);
            JsonNode vector = item.get("vector");
            if (feature == null && (vector == null || !vector.isTextual())) {
                throw ApiError.badRequest("steering", "steering vector must be the name of a registered vector (a string),"
                        + " or give sae and feature, got " + (vector == null ? "nothing" : RequestFields.kind(vector)));
            }
            JsonNode scale = item.get("scale");
            float c = 1f;
            if (scale != null && !scale.isNull()) {
                if (!scale.isNumber()) {
                    throw ApiError.badRequest("steering", "steering scale must be a number, got " + RequestFields.kind(scale));
                }
                c = scale.floatValue();
                if (!Float.isFinite(c) || Math.abs(c) > 1e4) {
                    throw ApiError.badRequest("steering", "steering scale must be a finite number of magnitude at most 10000, got "
                            + RequestFields.shown(scale));
                }
            }
            String name = feature != null ? feature.label() : RequestFields.checkedText("steering", vector.textValue());
            terms.add(SteeringRange.term(name, feature, c, item));
        }
        return terms;
    }
}
