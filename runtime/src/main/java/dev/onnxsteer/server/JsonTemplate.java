package dev.onnxsteer.server;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.UUID;

/**
 * A JSON object serialised once with a hole where one string value goes, so that a stream of
 * chunks that differ only in that string (the text of each streamed token) costs an escape and two
 * appends per chunk instead of a tree and a serialiser. The bytes are those Jackson writes for the
 * same object with the string in place.
 */
final class JsonTemplate {
    /** Put this as the value of the field that varies, then call {@link #of}. */
    static final String HOLE = "onnx-steer-template-hole-" + UUID.randomUUID();

    private final String before;
    private final String after;

    private JsonTemplate(String before, String after) {
        this.before = before;
        this.after = after;
    }

    /** The template of {@code node}, whose one string value {@link #HOLE} marks where the text goes. */
    static JsonTemplate of(ObjectNode node) {
        String json = node.toString();
        String quoted = "\"" + HOLE + "\"";
        int at = json.indexOf(quoted);
        if (at < 0 || json.indexOf(quoted, at + 1) >= 0) {
            throw new IllegalArgumentException("a template needs exactly one string value " + HOLE + ", found in " + json);
        }
        return new JsonTemplate(json.substring(0, at + 1), json.substring(at + quoted.length() - 1));
    }

    /** Appends the object with {@code text} (JSON-escaped) in the hole. */
    void appendTo(StringBuilder out, String text) {
        out.append(before);
        JsonStringEncoder.getInstance().quoteAsString(text, out);
        out.append(after);
    }
}
