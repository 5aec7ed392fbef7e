package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

/** A streamed chunk written from a template is byte for byte what Jackson writes for the same object. */
class JsonTemplateTest {
    private static ObjectNode chunk(String text) {
        ObjectNode root = Http.JSON.createObjectNode();
        root.put("id", "cmpl-1");
        root.put("object", "text_completion");
        root.put("created", 1_700_000_000L);
        root.put("model", "stories \"260K\"");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("text", text);
        choice.put("index", 0);
        choice.putNull("logprobs");
        choice.putNull("finish_reason");
        return root;
    }

    @Test
    void fillsTheHoleExactlyAsJacksonWritesTheValue() {
        JsonTemplate template = JsonTemplate.of(chunk(JsonTemplate.HOLE));
        for (String text : new String[] {"Once", "", " said \"hi\" \\ back", "line\nbreak\ttab\r\u0001\u001f\u007f",
                "caf\u00e9 \u2603 \ud83d\ude00", "</script><b>", JsonTemplate.HOLE}) {
            StringBuilder out = new StringBuilder("data: ");
            template.appendTo(out, text);
            assertEquals("data: " + chunk(text), out.toString(), text);
        }
    }

    @Test
    void refusesAnObjectWithoutExactlyOneHole() {
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> JsonTemplate.of(chunk("x")));
        assertTrue(none.getMessage().startsWith("a template needs exactly one string value " + JsonTemplate.HOLE), none.getMessage());
        ObjectNode two = chunk(JsonTemplate.HOLE);
        two.put("again", JsonTemplate.HOLE);
        assertThrows(IllegalArgumentException.class, () -> JsonTemplate.of(two));
    }
}
