package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.chat.ChatMessage;
import dev.onnxsteer.generate.GenerationConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A parsed and checked {@code POST /v1/chat/completions} body. The sampling fields, {@code stop},
 * {@code stream}, {@code n} and {@code steering} follow exactly the rules of {@link
 * CompletionRequest} (they are checked by it); chat adds {@code messages}, {@code
 * max_completion_tokens} and {@code stream_options.include_usage}, and refuses the chat features
 * onnx-steer does not implement ({@code tools}, {@code response_format}, {@code logprobs}, ...)
 * with a 400 naming the field rather than ignoring them.
 *
 * @param completion   the shared fields, as a completions request with an empty prompt
 * @param includeUsage {@code stream_options.include_usage}: a last chunk with {@code usage}
 */
public record ChatRequest(List<ChatMessage> messages, CompletionRequest completion, boolean includeUsage) {
    /** {@code max_tokens} when a chat request gives neither it nor {@code max_completion_tokens}. */
    public static final int DEFAULT_MAX_TOKENS = 256;

    private static final Set<String> ROLES = Set.of("system", "user", "assistant");
    /** Fields OpenAI's chat API has whose effect onnx-steer cannot give; present (and not off) means 400. */
    private static final List<String> UNSUPPORTED = List.of("tools", "tool_choice", "functions", "function_call",
            "parallel_tool_calls", "response_format", "logprobs", "top_logprobs", "logit_bias", "audio", "modalities",
            "prediction", "web_search_options", "echo", "best_of", "suffix");

    public ChatRequest {
        messages = List.copyOf(messages);
    }

    public GenerationConfig generation() {
        return completion.generation();
    }

    public boolean stream() {
        return completion.stream();
    }

    public List<SteeringTerm> steering() {
        return completion.steering();
    }

    /**
     * @param maxTokensLimit the largest {@code max_tokens} accepted
     * @throws ApiError 400 naming the field
     */
    public static ChatRequest parse(JsonNode body, int maxTokensLimit) {
        if (body == null || !body.isObject()) {
            throw ApiError.badRequest(null, "the request body must be a JSON object");
        }
        for (String field : UNSUPPORTED) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull() && !isOff(field, v)) {
                throw ApiError.badRequest(field, field + " is not supported by onnx-steer's chat completions");
            }
        }
        List<ChatMessage> messages = messages(body.get("messages"));
        ObjectNode shared = ((ObjectNode) body).deepCopy();
        for (String field : List.of("messages", "max_completion_tokens", "stream_options", "prompt")
                ) {
            shared.remove(field);
        }
        for (String field : UNSUPPORTED) {
            shared.remove(field);
        }
        JsonNode maxCompletion = body.get("max_completion_tokens");
        JsonNode max = body.get("max_tokens");
        boolean hasMax = max != null && !max.isNull();
        boolean hasCompletion = maxCompletion != null && !maxCompletion.isNull();
        if (hasMax && hasCompletion && !max.equals(maxCompletion)) {
            throw ApiError.badRequest("max_completion_tokens", "max_tokens (" + max + ") and max_completion_tokens ("
                    + maxCompletion + ") disagree; send one");
        }
        if (hasCompletion) {
            shared.set("max_tokens", maxCompletion);
        } else if (!hasMax) {
            shared.put("max_tokens", Math.min(DEFAULT_MAX_TOKENS, maxTokensLimit));
        }
        CompletionRequest completion;
        try {
            completion = CompletionRequest.parse(shared, maxTokensLimit);
        } catch (ApiError e) {
            if (hasCompletion && "max_tokens".equals(e.param())) {
                throw ApiError.badRequest("max_completion_tokens", e.getMessage().replace("max_tokens", "max_completion_tokens"));
            }
            throw e;
        }
        return new ChatRequest(messages, completion, includeUsage(body.get("stream_options"), completion.stream()));
    }

    /** Values that ask for nothing: false, an empty list, {@code "none"}, {@code {"type": "text"}}, {@code ["text"]}. */
    private static boolean isOff(String field, JsonNode v) {
        if (v.isBoolean()) {
            return !v.booleanValue();
        }
        if (v.isArray() && v.isEmpty()) {
            return true;
        }
        return switch (field) {
            case "tool_choice", "function_call" -> v.isTextual() && v.textValue().equals("none");
            case "response_format" -> v.isObject() && "text".equals(v.path("type").asText()) && v.size() == 1;
            case "modalities" -> v.isArray() && v.size() == 1 && "text".equals(v.get(0).asText());
            case "logit_bias" -> v.isObject() && v.isEmpty();
            case "best_of" -> v.isIntegralNumber() && v.intValue() == 1;
            case "top_logprobs" -> v.isIntegralNumber() && v.intValue() == 0;
            default -> false;
        };
    }

    private static List<ChatMessage> messages(JsonNode node) {
        if (node == null || node.isNull()) {
            throw ApiError.badRequest("messages", "messages is required: a list of {\"role\", \"content\"}");
        }
        if (!node.isArray() || node.isEmpty()) {
            throw ApiError.badRequest("messages", "messages must be a non-empty list of {\"role\", \"content\"}, got "
                    + (node.isArray() ? "an empty list" : node.getNodeType().name().toLowerCase()));
        }
        if (node.size() > 256) {
            throw ApiError.badRequest("messages", "at most 256 messages, got " + node.size());
        }
        List<ChatMessage> messages = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode m = node.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ApiError.badRequest("messages", where + " must be an object {\"role\", \"content\"}");
            }
            for (String field : List.of("tool_calls", "function_call", "tool_call_id", "audio")) {
                if (m.hasNonNull(field) && !(m.get(field).isArray() && m.get(field).isEmpty())) {
                    throw ApiError.badRequest("messages", where + "." + field + " is not supported (no tool calling)");
                }
            }
            JsonNode role = m.get("role");
            String r = role == null || !role.isTextual() ? null : role.textValue();
            if ("developer".equals(r)) {
                r = "system"; // OpenAI's newer name for the system role
            }
            if (r == null || !ROLES.contains(r)) {
                throw ApiError.badRequest("messages", where + ".role must be one of system, user, assistant (or developer), got "
                        + (role == null ? "nothing" : role.toString()));
            }
            messages.add(new ChatMessage(r, content(m.get("content"), where)));
        }
        return messages;
    }

    /** A string, or a list of {@code {"type": "text", "text": ...}} parts joined as OpenAI does (no separator). */
    private static String content(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            throw ApiError.badRequest("messages", where + ".content is required (a string or a list of text parts)");
        }
        if (node.isTextual()) {
            return node.textValue();
        }
        if (!node.isArray()) {
            throw ApiError.badRequest("messages", where + ".content must be a string or a list of text parts, got "
                    + node.getNodeType().name().toLowerCase());
        }
        StringBuilder text = new StringBuilder();
        for (int j = 0; j < node.size(); j++) {
            JsonNode part = node.get(j);
            String type = part.path("type").asText(null);
            if (!"text".equals(type) || !part.path("text").isTextual()) {
                throw ApiError.badRequest("messages", where + ".content[" + j + "] must be {\"type\": \"text\", \"text\": STRING}"
                        + (type != null && !"text".equals(type) ? "; type " + type + " is not supported" : ""));
            }
            text.append(part.get("text").textValue());
        }
        return text.toString();
    }

    private static boolean includeUsage(JsonNode options, boolean stream) {
        if (options == null || options.isNull()) {
            return false;
        }
        if (!stream) {
            throw ApiError.badRequest("stream_options", "stream_options is only allowed with \"stream\": true");
        }
        if (!options.isObject()) {
            throw ApiError.badRequest("stream_options", "stream_options must be an object {\"include_usage\": BOOL}");
        }
        JsonNode include = options.get("include_usage");
        if (include == null || include.isNull()) {
            return false;
        }
        if (!include.isBoolean()) {
            throw ApiError.badRequest("stream_options", "stream_options.include_usage must be true or false");
        }
        return include.booleanValue();
    }
}
