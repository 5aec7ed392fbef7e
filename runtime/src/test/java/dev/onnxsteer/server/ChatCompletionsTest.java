package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.chat.ChatMessage;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.session.SessionConfig;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code POST /v1/chat/completions} on stories260K with the Llama 2 chat template. */
class ChatCompletionsTest {
    private static final Path TEMPLATE = TestPaths.testdata().resolve("chat-templates/llama2.jinja");
    private static final List<ChatMessage> STORY = List.of(new ChatMessage("system", "You tell stories."),
            new ChatMessage("user", "Tell me about a cat."));
    private static final String STORY_JSON = "[{\"role\": \"system\", \"content\": \"You tell stories.\"},"
            + " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Tell me \"},"
            + " {\"type\": \"text\", \"text\": \"about a cat.\"}]}]";
    private static ServedModel model;
    private static ServedModel plain;
    private static SteerServer server;
    private static SteerServer noTemplate;
    private static URI base;

    @BeforeAll
    static void start() {
        model = ServedModel.open(Stories.files(), Stories.vectors(), SessionConfig.cpu(),
                ServeOptions.DEFAULTS.withChatTemplate(TEMPLATE));
        server = SteerServer.start(model, ServerConfig.defaults().withPort(0));
        base = server.uri();
        plain = ServedModel.open(Stories.files(), Stories.vectors(), SessionConfig.cpu());
        noTemplate = SteerServer.start(plain, ServerConfig.defaults().withPort(0));
    }

    @AfterAll
    static void stop() {
        for (SteerServer s : new SteerServer[] {server, noTemplate}) {
            if (s != null) {
                s.stop();
            }
        }
        for (ServedModel m : new ServedModel[] {model, plain}) {
            if (m != null) {
                m.close();
            }
        }
    }

    private static String body(String extra) {
        return "{\"model\": \"stories\", \"messages\": " + STORY_JSON + (extra.isEmpty() ? "" : ", " + extra) + "}";
    }

    @Test
    void answersEqualGenerateChatWithAndWithoutSteering() {
        record Case(String extra, double temperature, Long seed, List<SteeringTerm> terms) {}
        List<Case> cases = List.of(
                new Case("\"max_tokens\": 40, \"temperature\": 0", 0, null, List.of()),
                new Case("\"max_completion_tokens\": 30, \"temperature\": 0.8, \"seed\": 5", 0.8, 5L, List.of()),
                new Case("\"max_tokens\": 40, \"temperature\": 0, \"steering\": [{\"vector\": \"happy\", \"scale\": 3}]",
                        0, null, List.of(new SteeringTerm("happy", 3))));
        String unsteered = null;
        for (Case c : cases) {
            int max = c.extra().contains("30") ? 30 : 40;
            Generation expected = Reference.chat(STORY, TEMPLATE, SteerServerTest.config(max, c.temperature(), c.seed()),
                    c.terms());
            Http.Reply reply = Http.post(base, "/v1/chat/completions", body(c.extra()));
            assertEquals(200, reply.status(), reply.body());
            JsonNode json = reply.json();
            assertEquals("chat.completion", json.get("object").asText());
            assertTrue(json.get("id").asText().startsWith("chatcmpl-"), json.toString());
            JsonNode choice = json.get("choices").get(0);
            assertEquals("assistant", choice.get("message").get("role").asText());
            assertEquals(expected.text(), choice.get("message").get("content").asText(), c.toString());
            assertEquals(SteerServer.finishReason(expected.finishReason()), choice.get("finish_reason").asText());
            assertEquals(expected.promptTokens(), json.get("usage").get("prompt_tokens").asInt());
            assertEquals(expected.generatedTokens(), json.get("usage").get("completion_tokens").asInt());
            if (c.terms().isEmpty() && c.temperature() == 0) {
                unsteered = expected.text();
            } else if (!c.terms().isEmpty()) {
                assertNotEquals(unsteered, expected.text(), "the vector changes the reply");
            }
        }
    }

    @Test
    void streamingSendsRoleThenDeltasThenFinishAndUsage() {
        String whole = Http.post(base, "/v1/chat/completions", body("\"max_tokens\": 24, \"temperature\": 0"))
                .json().get("choices").get(0).get("message").get("content").asText();
        Http.Reply reply = Http.post(base, "/v1/chat/completions",
                body("\"max_tokens\": 24, \"temperature\": 0, \"stream\": true, \"stream_options\": {\"include_usage\": true}"));
        assertEquals(200, reply.status(), reply.body());
        List<String> events = Http.events(reply.body());
        assertEquals("[DONE]", events.get(events.size() - 1));
        List<JsonNode> chunks = events.subList(0, events.size() - 1).stream().map(ChatCompletionsTest::json).toList();
        JsonNode first = chunks.get(0).get("choices").get(0).get("delta");
        assertEquals("assistant", first.get("role").asText());
        StringBuilder text = new StringBuilder();
        for (JsonNode chunk : chunks.subList(1, chunks.size() - 2)) {
            assertEquals("chat.completion.chunk", chunk.get("object").asText());
            assertTrue(chunk.get("choices").get(0).get("finish_reason").isNull());
            text.append(chunk.get("choices").get(0).get("delta").get("content").asText());
        }
        assertEquals(whole, text.toString());
        JsonNode finish = chunks.get(chunks.size() - 2).get("choices").get(0);
        assertEquals("length", finish.get("finish_reason").asText());
        assertEquals(0, finish.get("delta").size());
        JsonNode usage = chunks.get(chunks.size() - 1);
        assertEquals(0, usage.get("choices").size());
        assertEquals(24, usage.get("usage").get("completion_tokens").asInt());

        List<String> noUsage = Http.events(Http.post(base, "/v1/chat/completions",
                body("\"max_tokens\": 4, \"temperature\": 0, \"stream\": true")).body());
        assertTrue(noUsage.stream().noneMatch(e -> e.contains("\"usage\"")), noUsage.toString());
    }

    @Test
    void unsupportedFieldsAreRefusedByName() {
        for (String[] c : new String[][] {
                {"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]", "tools"},
                {"\"n\": 2", "n"},
                {"\"logprobs\": true", "logprobs"},
                {"\"response_format\": {\"type\": \"json_object\"}", "response_format"},
                {"\"max_tokens\": 5, \"max_completion_tokens\": 6", "max_completion_tokens"},
                {"\"max_completion_tokens\": 0", "max_completion_tokens"},
                {"\"temperature\": \"hot\"", "temperature"},
                {"\"stream_options\": {\"include_usage\": true}", "stream_options"},
                {"\"steering\": [{\"vector\": \"nope\", \"scale\": 1}]", "steering"}}) {
            Http.Reply reply = Http.post(base, "/v1/chat/completions", body(c[0]));
            assertEquals(400, reply.status(), c[0]);
            JsonNode error = reply.json().get("error");
            assertEquals(c[1], error.get("param").asText(), reply.body());
            assertTrue(error.get("message").asText().contains(c[1].equals("steering") ? "nope" : c[1]), reply.body());
        }
        for (String ok : new String[] {"\"logprobs\": false", "\"response_format\": {\"type\": \"text\"}", "\"n\": 1",
                "\"tools\": []", "\"user\": \"u1\""}) {
            assertEquals(200, Http.post(base, "/v1/chat/completions", body(ok + ", \"max_tokens\": 2")).status(), ok);
        }
    }

    @Test
    void badMessagesAreRefusedWithTheirIndex() {
        String[][] cases = {
                {"{\"messages\": []}", "non-empty"},
                {"{\"prompt\": \"x\"}", "messages is required"},
                {"{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", "messages[0].role"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}",
                        "type image_url is not supported"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]}",
                        "the chat template refused the messages: Conversation roles must alternate"},
                {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\", \"tool_calls\": [{\"id\": \"1\"}]}]}",
                        "messages[0].tool_calls"}};
        for (String[] c : cases) {
            Http.Reply reply = Http.post(base, "/v1/chat/completions", c[0]);
            assertEquals(400, reply.status(), c[0]);
            assertEquals("messages", reply.json().get("error").get("param").asText(), reply.body());
            assertTrue(reply.json().get("error").get("message").asText().contains(c[1]), reply.body());
        }
    }

    @Test
    void aModelWithoutATemplateRefusesChatButStillCompletes() {
        Http.Reply reply = Http.post(noTemplate.uri(), "/v1/chat/completions", body("\"max_tokens\": 4"));
        assertEquals(400, reply.status());
        assertTrue(reply.json().get("error").get("message").asText().contains("has no chat template")
                && reply.body().contains("--chat-template FILE"), reply.body());
        assertEquals(200, Http.post(noTemplate.uri(), "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 2}").status());
    }

    private static JsonNode json(String text) {
        try {
            return Http.JSON.readTree(text);
        } catch (java.io.IOException e) {
            throw new AssertionError(text, e);
        }
    }
}
