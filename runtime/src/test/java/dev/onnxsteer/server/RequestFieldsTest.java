package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Hostile request bodies get a 400 that names the field (or none, for the body as a whole) and says why. */
class RequestFieldsTest {
    private static final int LIMIT = 256;

    private static ApiError refused(byte[] body) {
        ApiError e = assertThrows(ApiError.class,
                () -> CompletionRequest.parse(RequestFields.parse(body).node(), LIMIT));
        assertEquals(400, e.status());
        assertTrue(e.getMessage().codePoints().allMatch(c -> c >= 0x20 && c != 0x7f), "printable: " + e.getMessage());
        assertTrue(e.getMessage().length() < 400, "short: " + e.getMessage());
        return e;
    }

    private static ApiError refused(String body) {
        return refused(body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void malformedBodiesAreRefusedAsAWhole() {
        List<String[]> cases = List.of(
                new String[] {"[".repeat(200) + "]".repeat(200), "nested deeper than 64 levels"},
                new String[] {"{\"prompt\": \"a\"} {\"prompt\": \"b\"}", "something follows the JSON value"},
                new String[] {"{\"prompt\": \"a\", \"prompt\": \"b\"}", "Duplicate field 'prompt'"},
                new String[] {"{\"prompt\": \"a\",", "not valid JSON at line 1"},
                new String[] {"[1, 2]", "must be a JSON object, got a list"});
        for (String[] c : cases) {
            ApiError e = refused(c[0]);
            assertEquals(null, e.param(), c[0]);
            assertTrue(e.getMessage().contains(c[1]), "expected '" + c[1] + "' in " + e.getMessage());
        }
        byte[] latin1 = "{\"prompt\": \"caf\u00e9\"}".getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(refused(latin1).getMessage().contains("is not UTF-8 text (expected UTF-8, found byte 0xe9 at offset 15)"),
                refused(latin1).getMessage());
    }

    @Test
    void eachBadFieldIsNamed() {
        List<String[]> cases = List.of(
                new String[] {"{\"max_tokens\": 1e400}", "max_tokens", "must be an integer"},
                new String[] {"{\"max_tokens\": 99999999999999999999}", "max_tokens", "must be an integer, got a number 99999999999999999999"},
                new String[] {"{\"max_tokens\": 257}", "max_tokens", "between 1 and 256, got 257"},
                new String[] {"{\"temperature\": 1e400}", "temperature", "must be a finite number"},
                new String[] {"{\"top_p\": -0.5}", "top_p", "in (0, 1], got -0.5"},
                new String[] {"{\"seed\": 99999999999999999999}", "seed", "must be a 64-bit integer"},
                new String[] {"{\"stream\": 1}", "stream", "must be true or false, got a number 1"},
                new String[] {"{\"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", "stop", "at most 4 stop strings, got 5"},
                new String[] {"{\"stop\": \"" + "x".repeat(2000) + "\"}", "stop", "at most 1000 characters, got 2000"},
                new String[] {"{\"stop\": [\"a\", {\"b\": 1}]}", "stop", "must be a string or a list of strings, got an object"},
                new String[] {"{\"prompt\": \"\\ud800x\"}", "prompt", "unpaired surrogate \\ud800 at character 0"},
                new String[] {"{\"prompt\": {\"\\u0001\\u001b[2J\": 1}}", "prompt", "must be a string, got an object {"},
                new String[] {"{\"n\": 1e300}", "n", "only n = 1 is supported"},
                new String[] {"{\"steering\": [{\"vector\": \"happy\", \"scale\": 1e39}]}", "steering", "magnitude at most 10000"});
        for (String[] c : cases) {
            ApiError e = refused(c[0]);
            assertEquals(c[1], e.param(), c[0] + " -> " + e.getMessage());
            assertTrue(e.getMessage().contains(c[2]), "expected '" + c[2] + "' in " + e.getMessage());
        }
    }

    @Test
    void aLongValueIsCutWhenQuoted() {
        ApiError e = refused("{\"temperature\": \"" + "\\u0007".repeat(5000) + "\"}");
        assertEquals("temperature", e.param());
        assertTrue(e.getMessage().contains("chars)"), "cut: " + e.getMessage());
    }

    @Test
    void aGoodRequestStillParses() {
        CompletionRequest r = CompletionRequest.parse(RequestFields.parse(("{\"prompt\": [\"Once\"], \"max_tokens\": 8, "
                + "\"temperature\": 0, \"seed\": -3, \"stop\": \"\\n\", \"steering\": [{\"vector\": \"happy\", \"scale\": 2}]}")
                .getBytes(StandardCharsets.UTF_8)).node(), LIMIT);
        assertEquals("Once", r.prompt());
        assertEquals(8, r.maxTokens());
        assertEquals(-3, r.seed().getAsLong());
        assertEquals(List.of("\n"), r.stop());
        assertEquals(2f, r.steering().get(0).scale());
    }
}
