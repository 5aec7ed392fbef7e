package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.BadInputException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.io.JsonFiles;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * Reads the fields of a JSON request body, each wrong type or out-of-range value a 400 that names the field
 * and quotes what was sent (escaped and cut, so a hostile value is not echoed back whole). Any endpoint's
 * request (completions, chat) parses its body with {@link #parse} and its fields through one of these.
 */
public final class RequestFields {
    /** Longest string a request may hold in a field such as {@code stop}; generation never needs more. */
    public static final int MAX_SHORT_STRING = 1000;

    private final JsonNode body;

    private RequestFields(JsonNode body) {
        this.body = body;
    }

    /**
     * Parses a request body strictly (one JSON object, nothing after it, no duplicate keys, nesting bounded by
     * {@link JsonFiles#MAX_NESTING}, valid UTF-8); a 400 without a field otherwise.
     */
    public static RequestFields parse(byte[] body) {
        JsonNode node;
        try {
            node = JsonFiles.parse(body, "the request body");
        } catch (BadInputException e) {
            throw ApiError.badRequest(null, e.getMessage());
        }
        return of(node);
    }

    /** Fields of an already parsed body, which must be an object. */
    public static RequestFields of(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw ApiError.badRequest(null, "the request body must be a JSON object, got "
                    + (body == null ? "nothing" : kind(body)));
        }
        return new RequestFields(body);
    }

    public JsonNode node() {
        return body;
    }

    /** The field's node, or null when absent or JSON null (OpenAI treats both as "use the default"). */
    public JsonNode get(String field) {
        JsonNode node = body.get(field);
        return node == null || node.isNull() ? null : node;
    }

    /** An integer field within {@code [min, max]}, or {@code fallback} when absent. */
    public int integer(String field, int min, int max, int fallback) {
        JsonNode node = get(field);
        if (node == null) {
            return fallback;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong()) {
            throw wrong(field, "an integer", node);
        }
        long value = node.longValue();
        if (value < min || value > max) {
            throw ApiError.badRequest(field, field + " must be between " + min + " and " + max + ", got " + shown(node));
        }
        return (int) value;
    }

    /** A 64-bit integer field, when present. */
    public OptionalLong optionalLong(String field) {
        JsonNode node = get(field);
        if (node == null) {
            return OptionalLong.empty();
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong()) {
            throw wrong(field, "a 64-bit integer", node);
        }
        return OptionalLong.of(node.longValue());
    }

    /** A finite number field, or {@code fallback} when absent; the caller checks its range with {@link #range}. */
    public double number(String field, double fallback) {
        JsonNode node = get(field);
        if (node == null) {
            return fallback;
        }
        if (!node.isNumber() || !Double.isFinite(node.doubleValue())) {
            throw wrong(field, "a finite number", node);
        }
        return node.doubleValue();
    }

    /** Refuses {@code value} of {@code field} outside the range described by {@code range} when {@code ok} is false. */
    public static void range(String field, boolean ok, String range, double value) {
        if (!ok) {
            throw ApiError.badRequest(field, field + " must be " + range + ", got " + value);
        }
    }

    public boolean bool(String field, boolean fallback) {
        JsonNode node = get(field);
        if (node == null) {
            return fallback;
        }
        if (!node.isBoolean()) {
            throw wrong(field, "true or false", node);
        }
        return node.booleanValue();
    }

    /** A string field (or {@code fallback}); unpaired surrogates, which no tokenizer can encode, are refused. */
    public String string(String field, String fallback) {
        JsonNode node = get(field);
        if (node == null) {
            return fallback;
        }
        if (!node.isTextual()) {
            throw wrong(field, "a string", node);
        }
        return checkedText(field, node.textValue());
    }

    /**
     * A string or a list of at most {@code maxItems} non-empty strings of at most {@link #MAX_SHORT_STRING}
     * characters (OpenAI's {@code stop}); empty when absent.
     */
    public List<String> stringList(String field, int maxItems) {
        JsonNode node = get(field);
        List<String> items = new ArrayList<>();
        if (node == null) {
            return items;
        }
        if (node.isArray()) {
            if (node.size() > maxItems) {
                throw ApiError.badRequest(field, "at most " + maxItems + " " + field + " strings, got " + node.size());
            }
            for (JsonNode item : node) {
                if (!item.isTextual()) {
                    throw wrong(field, "a string or a list of strings", item);
                }
                items.add(item.textValue());
            }
        } else if (node.isTextual()) {
            items.add(node.textValue());
        } else {
            throw wrong(field, "a string or a list of strings", node);
        }
        for (String s : items) {
            if (s.isEmpty()) {
                throw ApiError.badRequest(field, field + " strings must not be empty");
            }
            if (s.length() > MAX_SHORT_STRING) {
                throw ApiError.badRequest(field, field + " strings must be at most " + MAX_SHORT_STRING
                        + " characters, got " + s.length());
            }
            checkedText(field, s);
        }
        return items;
    }

    /** Refuses text with an unpaired UTF-16 surrogate (from a {@code \ud800} escape): it is not a character. */
    public static String checkedText(String field, String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw ApiError.badRequest(field, field + " holds an unpaired surrogate \\u"
                        + Integer.toHexString(c) + " at character " + i + "; expected Unicode text");
            }
        }
        return text;
    }

    /** A 400 saying what the field must be and what it was. */
    public static ApiError wrong(String field, String expected, JsonNode found) {
        return ApiError.badRequest(field, field + " must be " + expected + ", got " + kind(found) + " " + shown(found));
    }

    /** The value as sent, printable and cut. */
    public static String shown(JsonNode node) {
        return FileProblem.printable(node.toString());
    }

    public static String kind(JsonNode node) {
        return switch (node.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case ARRAY -> "a list";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> node.getNodeType().name().toLowerCase(Locale.ROOT);
        };
    }
}
