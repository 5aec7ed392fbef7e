package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.SamplingConfig;
import dev.onnxsteer.session.SessionConfig;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The server on stories260K over loopback: answers equal {@code generate}, streaming, batching, errors. */
class SteerServerTest {
    private static ServedModel model;
    private static SteerServer server;
    private static URI base;

    @BeforeAll
    static void start() {
        model = ServedModel.open(Stories.files(), Stories.vectors(), SessionConfig.cpu());
        server = SteerServer.start(model, ServerConfig.defaults().withPort(0).withMaxBatch(8));
        base = server.uri();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.stop();
        }
        if (model != null) {
            model.close();
        }
    }

    static String body(String prompt, int maxTokens, double temperature, Long seed, String steering, boolean stream) {
        return "{\"prompt\": " + Http.JSON.valueToTree(prompt) + ", \"max_tokens\": " + maxTokens
                + ", \"temperature\": " + temperature + (seed == null ? "" : ", \"seed\": " + seed)
                + (steering == null ? "" : ", \"steering\": " + steering) + ", \"stream\": " + stream + "}";
    }

    static GenerationConfig config(int maxTokens, double temperature, Long seed) {
        return GenerationConfig.greedy(maxTokens).withSampling(new SamplingConfig(temperature, 0, 1, 1,
                seed == null ? OptionalLong.empty() : OptionalLong.of(seed)));
    }

    @Test
    void bindsLoopbackAndAnswersHealthVectorsModels() {
        assertEquals("127.0.0.1", base.getHost());
        JsonNode health = Http.get(base, "/health").json();
        assertEquals("ok", health.get("status").asText());
        assertEquals("stories", health.get("model").asText());
        JsonNode vectors = Http.get(base, "/v1/vectors").json().get("data");
        assertEquals(3, vectors.size());
        assertEquals("calm", vectors.get(0).get("name").asText());
        assertEquals("resid_mid", vectors.get(0).get("site").asText());
        JsonNode sad = vectors.get(2);
        assertEquals("sad", sad.get("name").asText());
        assertEquals("[1,3]", sad.get("layers").toString());
        assertEquals("resid_post", sad.get("site").asText());
        assertEquals("random", sad.get("method").asText());
        assertEquals(Stories.NORM, sad.get("norms").get("3").asDouble(), 1e-4);
        assertEquals("stories", Http.get(base, "/v1/models").json().get("data").get(0).get("id").asText());
        Http.Reply page = Http.get(base, "/");
        assertEquals(200, page.status());
        assertTrue(page.body().contains("id=\"steer-rows\"") && page.body().contains("id=\"add-vector\"")
                && page.body().contains("id=\"sweep\""), page.body());
    }

    @Test
    void completionsEqualGenerateTokenForToken() {
        String prompt = "Once upon a time";
        record Case(int maxTokens, double temperature, Long seed, String steering, List<SteeringTerm> terms) {}
        List<Case> cases = List.of(
                new Case(32, 0, null, null, List.of()),
                new Case(24, 0.9, 7L, null, List.of()),
                new Case(32, 0, null, "[{\"vector\": \"happy\", \"scale\": 2}]", List.of(new SteeringTerm("happy", 2))),
                new Case(24, 0.9, 7L, "[{\"vector\": \"sad\", \"scale\": -1.5}]", List.of(new SteeringTerm("sad", -1.5f))),
                new Case(32, 0, null, "[{\"vector\": \"happy\", \"scale\": 1}, {\"vector\": \"sad\", \"scale\": 1.5},"
                        + " {\"vector\": \"calm\", \"scale\": 2}]",
                        List.of(new SteeringTerm("happy", 1), new SteeringTerm("sad", 1.5f), new SteeringTerm("calm", 2))));
        String unsteered = null;
        for (Case c : cases) {
            Generation expected = Reference.generate(prompt, config(c.maxTokens(), c.temperature(), c.seed()), c.terms());
            Http.Reply reply = Http.post(base, "/v1/completions",
                    body(prompt, c.maxTokens(), c.temperature(), c.seed(), c.steering(), false));
            assertEquals(200, reply.status(), reply.body());
            JsonNode json = reply.json();
            assertEquals("text_completion", json.get("object").asText());
            JsonNode choice = json.get("choices").get(0);
            assertEquals(expected.text(), choice.get("text").asText(), c.toString());
            assertEquals(expected.generatedTokens(), json.get("usage").get("completion_tokens").asInt());
            assertEquals(expected.promptTokens(), json.get("usage").get("prompt_tokens").asInt());
            assertEquals(expected.promptTokens() + expected.generatedTokens(), json.get("usage").get("total_tokens").asInt());
            assertEquals(SteerServer.finishReason(expected.finishReason()), choice.get("finish_reason").asText());
            if (c.steering() == null && c.temperature() == 0) {
                unsteered = expected.text();
                assertTrue(unsteered.startsWith(", there was a little girl named Lily"), unsteered);
            } else if (c.temperature() == 0) {
                assertNotEquals(unsteered, expected.text(), "the steering vectors change the text");
            }
        }
    }

    @Test
    void streamingDeliversTheSameText() {
        String steering = "[{\"vector\": \"happy\", \"scale\": 2}]";
        String plain = Http.post(base, "/v1/completions", body("The dog", 40, 0, null, steering, false))
                .json().get("choices").get(0).get("text").asText();
        Http.Reply reply = Http.post(base, "/v1/completions", body("The dog", 40, 0, null, steering, true));
        assertEquals(200, reply.status());
        assertTrue(reply.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<String> events = Http.events(reply.body());
        assertEquals("[DONE]", events.get(events.size() - 1));
        StringBuilder text = new StringBuilder();
        JsonNode last = null;
        for (String event : events.subList(0, events.size() - 1)) {
            JsonNode chunk = Http.JSON.valueToTree(parse(event));
            text.append(chunk.get("choices").get(0).get("text").asText());
            last = chunk;
        }
        assertTrue(events.size() > 3, "several chunks: " + events);
        assertEquals(plain, text.toString());
        assertEquals("length", last.get("choices").get(0).get("finish_reason").asText());
        assertEquals(40, last.get("usage").get("completion_tokens").asInt());
    }

    @Test
    void stopStringsCutTheText() {
        JsonNode json = Http.post(base, "/v1/completions",
                "{\"prompt\": \"Once upon a time\", \"max_tokens\": 40, \"temperature\": 0, \"stop\": [\"Lily\"]}").json();
        assertEquals(", there was a little girl named ", json.get("choices").get(0).get("text").asText());
        assertEquals("stop", json.get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void mixedBatchesAnswerEachRequestAsItWouldAlone() throws Exception {
        ServerConfig slowWindow = ServerConfig.defaults().withPort(0).withMaxBatch(8)
                .withBatchWindow(java.time.Duration.ofMillis(1500));
        List<String> bodies = List.of(
                body("Once upon a time", 20, 0, null, null, false),
                body("Once upon a time", 28, 0, null, "[{\"vector\": \"happy\", \"scale\": 2}]", false),
                body("The cat", 16, 0, null, "[{\"vector\": \"sad\", \"scale\": -2}]", false),
                body("Tom had a ball", 24, 0.8, 3L, "[{\"vector\": \"calm\", \"scale\": 3}]", false),
                body("Once upon a time", 20, 0, null, "[{\"vector\": \"happy\", \"scale\": 1}, {\"vector\": \"calm\", \"scale\": -1}]", false),
                body("Lily", 12, 1.0, 99L, null, false));
        List<String> alone = new ArrayList<>();
        for (String b : bodies) {
            Http.Reply reply = Http.post(base, "/v1/completions", b);
            assertEquals(200, reply.status(), reply.body());
            alone.add(reply.json().get("choices").get(0).get("text").asText());
        }
        try (ServedModel second = ServedModel.open(Stories.files(), Stories.vectors(), SessionConfig.cpu());
                SteerServer batched = SteerServer.start(second, slowWindow)) {
            List<CompletableFuture<Http.Reply>> replies = new ArrayList<>();
            for (String b : bodies) {
                replies.add(Http.sendAsync(Http.completionRequest(batched.uri(), b)));
            }
            for (int i = 0; i < bodies.size(); i++) {
                Http.Reply reply = replies.get(i).get();
                assertEquals(200, reply.status(), reply.body());
                assertEquals(alone.get(i), reply.json().get("choices").get(0).get("text").asText(), bodies.get(i));
            }
            String metrics = Http.get(batched.uri(), "/metrics").body();
            assertTrue(metrics.contains("onnxsteer_batch_size_sum 6\n"), metrics);
            assertTrue(metrics.contains("onnxsteer_batches_total 1\n"), "all six shared one batch:\n" + metrics);
        }
        assertEquals(new java.util.HashSet<>(alone).size(), alone.size(), "the requests differ: " + alone);
    }

    @Test
    void badRequestsGet400WithAJsonErrorAndTheServerKeepsServing() {
        String big = "{\"prompt\": \"" + "a".repeat(70_000) + "\"}";
        List<String[]> cases = List.of(
                new String[] {"{\"prompt\": \"Hi\",", null},
                new String[] {"not json at all", null},
                new String[] {"[1, 2]", null},
                new String[] {"", null},
                new String[] {"{\"prompt\": 5}", "prompt"},
                new String[] {"{\"prompt\": \"Hi\", \"max_tokens\": \"ten\"}", "max_tokens"},
                new String[] {"{\"prompt\": \"Hi\", \"max_tokens\": 2.5}", "max_tokens"},
                new String[] {"{\"prompt\": \"Hi\", \"max_tokens\": -3}", "max_tokens"},
                new String[] {"{\"prompt\": \"Hi\", \"max_tokens\": 0}", "max_tokens"},
                new String[] {"{\"prompt\": \"Hi\", \"max_tokens\": 100000000}", "max_tokens"},
                new String[] {"{\"prompt\": \"Hi\", \"max_tokens\": 99999999999999999999}", "max_tokens"},
                new String[] {"{\"prompt\": \"Hi\", \"temperature\": \"hot\"}", "temperature"},
                new String[] {"{\"prompt\": \"Hi\", \"temperature\": -1}", "temperature"},
                new String[] {"{\"prompt\": \"Hi\", \"top_p\": 0}", "top_p"},
                new String[] {"{\"prompt\": \"Hi\", \"seed\": \"x\"}", "seed"},
                new String[] {"{\"prompt\": \"Hi\", \"stream\": \"yes\"}", "stream"},
                new String[] {"{\"prompt\": \"Hi\", \"stop\": 3}", "stop"},
                new String[] {"{\"prompt\": \"Hi\", \"n\": 2}", "n"},
                new String[] {"{\"prompt\": \"Hi\", \"steering\": \"happy\"}", "steering"},
                new String[] {"{\"prompt\": \"Hi\", \"steering\": [{\"vector\": \"happy\", \"scale\": \"big\"}]}", "steering"},
                new String[] {"{\"prompt\": \"Hi\", \"steering\": [{\"vector\": 3}]}", "steering"},
                new String[] {"{\"prompt\": \"Hi\", \"steering\": [{\"vector\": \"/etc/passwd\", \"scale\": 1}]}", "steering"},
                new String[] {"{\"prompt\": \"Hi\", \"steering\": [{\"vector\": \"happy\", \"path\": \"x.gguf\"}]}", "steering"},
                new String[] {big, null});
        for (String[] c : cases) {
            Http.Reply reply = Http.post(base, "/v1/completions", c[0]);
            String shown = c[0].length() > 100 ? c[0].substring(0, 100) + "..." : c[0];
            assertEquals(400, reply.status(), shown + " -> " + reply.body());
            JsonNode error = reply.json().get("error");
            assertEquals("invalid_request_error", error.get("type").asText(), reply.body());
            assertFalse(error.get("message").asText().isBlank());
            if (c[1] != null) {
                assertEquals(c[1], error.get("param").asText(), reply.body());
            }
        }
        Http.Reply unknown = Http.post(base, "/v1/completions",
                "{\"prompt\": \"Hi\", \"steering\": [{\"vector\": \"joyful\", \"scale\": 1}]}");
        assertTrue(unknown.json().get("error").get("message").asText().contains("[calm, happy, sad]"), unknown.body());
        Http.Reply ok = Http.post(base, "/v1/completions", body("Hi", 4, 0, null, null, false));
        assertEquals(200, ok.status(), ok.body());
    }

    @Test
    void unknownPathsGet404AsJson() {
        Http.Reply reply = Http.get(base, "/v1/chat/nothing");
        assertEquals(404, reply.status());
        assertTrue(reply.json().get("error").get("message").asText().contains("/v1/completions"), reply.body());
    }

    @Test
    void metricsArePrometheusText() {
        Http.post(base, "/v1/completions", body("Hi", 3, 0, null, null, false));
        Http.Reply reply = Http.get(base, "/metrics");
        assertEquals(200, reply.status());
        assertTrue(reply.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
        String text = reply.body();
        for (String name : List.of("# TYPE onnxsteer_requests_total counter", "onnxsteer_requests_total{status=\"200\"}",
                "onnxsteer_generated_tokens_total", "onnxsteer_queue_depth 0", "onnxsteer_batch_size_bucket{le=\"1\"}",
                "onnxsteer_request_latency_seconds_bucket{le=\"+Inf\"}", "onnxsteer_request_latency_seconds_count")) {
            assertTrue(text.contains(name), name + " in\n" + text);
        }
    }

    private static Object parse(String json) {
        try {
            return Http.JSON.readTree(json);
        } catch (Exception e) {
            throw new AssertionError(json, e);
        }
    }
}
