package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
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
        if (body == null || !body.isObject()) {
            throw ApiError.badRequest(null, "the request body must be a JSON object");
        }
        String prompt = prompt(body.get("prompt"));
        int maxTokens = DEFAULT_MAX_TOKENS;
        JsonNode max = body.get("max_tokens");
        if (max != null && !max.isNull()) {
            if (!max.isIntegralNumber() || !max.canConvertToInt()) {
                throw ApiError.badRequest("max_tokens", "max_tokens must be an integer, got " + kind(max) + " " + max);
            }
            maxTokens = max.intValue();
            if (maxTokens < 1 || maxTokens > maxTokensLimit) {
                throw ApiError.badRequest("max_tokens", "max_tokens must be between 1 and " + maxTokensLimit
                        + ", got " + maxTokens);
            }
        }
        double temperature = number(body, "temperature", 1.0);
        if (!(temperature >= 0 && temperature <= 2)) {
            throw ApiError.badRequest("temperature", "temperature must be between 0 and 2, got " + temperature);
        }
        double topP = number(body, "top_p", 1.0);
        if (!(topP > 0 && topP <= 1)) {
            throw ApiError.badRequest("top_p", "top_p must be in (0, 1], got " + topP);
        }
        OptionalLong seed = OptionalLong.empty();
        JsonNode seedNode = body.get("seed");
        if (seedNode != null && !seedNode.isNull()) {
            if (!seedNode.isIntegralNumber() || !seedNode.canConvertToLong()) {
                throw ApiError.badRequest("seed", "seed must be an integer, got " + kind(seedNode) + " " + seedNode);
            }
            seed = OptionalLong.of(seedNode.longValue());
        }
        List<String> stop = stop(body.get("stop"));
        boolean stream = false;
        JsonNode streamNode = body.get("stream");
        if (streamNode != null && !streamNode.isNull()) {
            if (!streamNode.isBoolean()) {
                throw ApiError.badRequest("stream", "stream must be true or false, got " + kind(streamNode));
            }
            stream = streamNode.booleanValue();
        }
        JsonNode n = body.get("n");
        if (n != null && !n.isNull() && !(n.isIntegralNumber() && n.intValue() == 1)) {
            throw ApiError.badRequest("n", "only n = 1 is supported, got " + n);
        }
        for (String unsupported : List.of("logprobs", "echo", "best_of", "suffix")) {
            JsonNode v = body.get(unsupported);
            if (v != null && !v.isNull() && !(v.isBoolean() && !v.booleanValue())
                    && !(unsupported.equals("best_of") && v.isIntegralNumber() && v.intValue() == 1)) {
                throw ApiError.badRequest(unsupported, unsupported + " is not supported");
            }
        }
        return new CompletionRequest(prompt, maxTokens, temperature, topP, seed, stop, stream, steering(body.get("steering")));
    }

    private static String prompt(JsonNode node) {
        if (node == null || node.isNull()) {
            return "";
        }
        if (node.isTextual()) {
            return node.textValue();
        }
        if (node.isArray() && node.size() == 1 && node.get(0).isTextual()) {
            return node.get(0).textValue();
        }
        if (node.isArray()) {
            throw ApiError.badRequest("prompt", "prompt must be a string (or a list of exactly one string), got a list of "
                    + node.size());
        }
        throw ApiError.badRequest("prompt", "prompt must be a string, got " + kind(node));
    }

    private static double number(JsonNode body, String field, double fallback) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.isNumber()) {
            throw ApiError.badRequest(field, field + " must be a number, got " + kind(node) + " " + node);
        }
        return node.doubleValue();
    }

    private static List<String> stop(JsonNode node) {
        List<String> stops = new ArrayList<>();
        if (node == null || node.isNull()) {
            return stops;
        }
        if (node.isTextual()) {
            stops.add(node.textValue());
        } else if (node.isArray()) {
            for (JsonNode s : node) {
                if (!s.isTextual()) {
                    throw ApiError.badRequest("stop", "stop must be a string or a list of strings, found " + kind(s));
                }
                stops.add(s.textValue());
            }
        } else {
            throw ApiError.badRequest("stop", "stop must be a string or a list of strings, got " + kind(node));
        }
        if (stops.size() > 4) {
            throw ApiError.badRequest("stop", "at most 4 stop strings, got " + stops.size());
        }
        for (String s : stops) {
            if (s.isEmpty()) {
                throw ApiError.badRequest("stop", "stop strings must not be empty");
            }
        }
        return stops;
    }

    private static List<SteeringTerm> steering(JsonNode node) {
        List<SteeringTerm> terms = new ArrayList<>();
        if (node == null || node.isNull()) {
            return terms;
        }
        if (!node.isArray()) {
            throw ApiError.badRequest("steering", "steering must be a list of {\"vector\": NAME, \"scale\": C}, got "
                    + kind(node));
        }
        if (node.size() > 16) {
            throw ApiError.badRequest("steering", "at most 16 steering entries, got " + node.size());
        }
        for (JsonNode item : node) {
            if (!item.isObject()) {
                throw ApiError.badRequest("steering", "each steering entry must be an object {\"vector\": NAME, \"scale\": C}, got "
                        + kind(item));
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = item.fields(); it.hasNext(); ) {
                String key = it.next().getKey();
                if (!SteeringRange.FIELDS.contains(key)) {
                    throw ApiError.badRequest("steering", "unknown steering field '" + key + "'; expected "
                            + String.join(", ", SteeringRange.FIELDS));
                }
            }
            JsonNode vector = item.get("vector");
            if (vector == null || !vector.isTextual()) {
                throw ApiError.badRequest("steering", "steering vector must be the name of a registered vector (a string), got "
                        + (vector == null ? "nothing" : kind(vector)));
            }
            JsonNode scale = item.get("scale");
            float c = 1f;
            if (scale != null && !scale.isNull()) {
                if (!scale.isNumber()) {
                    throw ApiError.badRequest("steering", "steering scale must be a number, got " + kind(scale));
                }
                c = scale.floatValue();
                if (!Float.isFinite(c) || Math.abs(c) > 1e4) {
                    throw ApiError.badRequest("steering", "steering scale must be a finite number of magnitude at most 10000, got "
                            + scale);
                }
            }
            terms.add(SteeringRange.term(vector.textValue(), c, item));
        }
        return terms;
    }

    private static String kind(JsonNode node) {
        return switch (node.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case ARRAY -> "a list";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> node.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
        };
    }
}
