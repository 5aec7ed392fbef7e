package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.server.ServeOptions;
import dev.onnxsteer.server.ServedModel;
import dev.onnxsteer.server.ServerConfig;
import dev.onnxsteer.server.SteerServer;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve} with a model compiled with {@code --condition} (CAST) on stories260K: in one batch mixing prompts
 * whose condition fires and prompts whose condition does not, rows that stop at different lengths, streamed and
 * not, each answer equals {@code generate --json} for its prompt (text, token count and {@code
 * steering.condition_met}), and {@code /metrics} counts the decisions.
 */
class ServeConditionalTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    @TempDir
    static Path tmp;
    static Path model;
    static Path conditional;
    static Path vectors;
    static String template;

    @BeforeAll
    static void compileConditional() throws Exception {
        model = tmp.resolve("stories");
        CliRun imported = run("import", TestPaths.sharedModel("stories260K/stories260K.gguf").toString(), "-o",
                model.toString());
        assertEquals(Main.OK, imported.code(), imported.err());
        Path condition = tmp.resolve("animals.safetensors");
        CliRun extracted = run("extract", model.toString(), "--dataset",
                TestPaths.testdata().resolve("conditional-animals-toys.jsonl").toString(), "--layers", "3", "--condition",
                "--quiet", "-o", condition.toString());
        assertEquals(Main.OK, extracted.code(), extracted.err());
        Matcher advice = Pattern.compile("compile with: (--condition \\S+ --condition-layers \\d+ --condition-comparator "
                + "\\w+ --condition-aggregate \\w+)").matcher(extracted.out());
        assertTrue(advice.find(), extracted.out());
        Random random = new Random(42);
        float[] v = new float[64];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        Path behaviour = tmp.resolve("behaviour.safetensors");
        VectorFiles.write(SteeringVectors.of(Map.of(4, v), VectorMetadata.defaults()), behaviour);
        conditional = tmp.resolve("conditional");
        List<String> compile = new ArrayList<>(List.of("compile", model.toString(), "--vector", behaviour.toString(),
                "--coeff", "6", "-o", conditional.toString()));
        compile.addAll(List.of(advice.group(1).split(" ")));
        CliRun compiled = run(compile.toArray(String[]::new));
        assertEquals(Main.OK, compiled.code(), compiled.err());
        vectors = Files.createDirectories(tmp.resolve("vectors"));
        template = TestPaths.testdata().resolve("chat-templates/llama2.jinja").toString();
    }

    /** Each prompt's {@code generate --json} row, for prompts that all take {@code maxTokens}. */
    private static List<JsonNode> generate(List<String> prompts, int maxTokens, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("generate", conditional.toString(), "--max-tokens",
                Integer.toString(maxTokens), "--json", "--device", "cpu"));
        for (String p : prompts) {
            args.addAll(List.of("--prompt", p));
        }
        args.addAll(List.of(extra));
        CliRun r = run(args.toArray(String[]::new));
        assertEquals(Main.OK, r.code(), r.err());
        List<JsonNode> rows = new ArrayList<>();
        for (String line : r.out().strip().split("\n")) {
            rows.add(JSON.readTree(line));
        }
        assertEquals(prompts.size(), rows.size(), r.out());
        return rows;
    }

    private static HttpRequest post(URI base, String path, String body) {
        return HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private static String metrics(URI base) throws Exception {
        return CLIENT.send(HttpRequest.newBuilder(base.resolve("/metrics")).build(), HttpResponse.BodyHandlers.ofString())
                .body();
    }

    /** The {@code data:} payloads of a server-sent-events body, without {@code [DONE]}. */
    private static List<JsonNode> events(String body) throws Exception {
        List<JsonNode> events = new ArrayList<>();
        for (String line : body.split("\n")) {
            if (line.startsWith("data: ") && !line.equals("data: [DONE]")) {
                events.add(JSON.readTree(line.substring(6)));
            }
        }
        return events;
    }

    @Test
    void oneMixedBatchAnswersEachRowAsGenerateDoesAndCountsTheDecisions() throws Exception {
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < ConditionalSteeringTest.HELD_OUT.size(); i++) {
            prompts.add(ConditionalSteeringTest.ANIMALS.get(i));
            prompts.add(ConditionalSteeringTest.TOYS.get(i));
            prompts.add(ConditionalSteeringTest.HELD_OUT.get(i));
        }
        // rows leave the batch at different steps; the decision of each must stay its own
        int[] lengths = {6, 10, 14};
        List<JsonNode> expected = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            expected.add(null);
        }
        for (int k = 0; k < lengths.length; k++) {
            List<String> group = new ArrayList<>();
            for (int i = k; i < prompts.size(); i += lengths.length) {
                group.add(prompts.get(i));
            }
            List<JsonNode> rows = generate(group, lengths[k]);
            for (int j = 0, i = k; i < prompts.size(); i += lengths.length, j++) {
                expected.set(i, rows.get(j));
            }
        }
        long met = expected.stream().filter(row -> row.path("steering").path("condition_met").asBoolean()).count();
        assertTrue(met > 0 && met < prompts.size(), "the batch mixes rows whose condition fires and rows whose does not: "
                + expected);

        // a batch starts when it is full, so all twelve requests share one
        ServerConfig oneBatch = ServerConfig.defaults().withPort(0).withMaxBatch(prompts.size())
                .withBatchWindow(Duration.ofSeconds(60));
        try (ServedModel served = ServedModel.open(ModelFiles.locate(conditional, null), vectors, SessionConfig.cpu());
                SteerServer server = SteerServer.start(served, oneBatch)) {
            assertTrue(served.conditional());
            List<CompletableFuture<HttpResponse<String>>> replies = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                boolean stream = i % 4 == 3;
                String body = "{\"prompt\": " + JSON.valueToTree(prompts.get(i)) + ", \"max_tokens\": "
                        + lengths[i % lengths.length] + ", \"temperature\": 0, \"stream\": " + stream + "}";
                replies.add(CLIENT.sendAsync(post(server.uri(), "/v1/completions", body), HttpResponse.BodyHandlers.ofString()));
            }
            for (int i = 0; i < prompts.size(); i++) {
                HttpResponse<String> reply = replies.get(i).get(120, TimeUnit.SECONDS);
                assertEquals(200, reply.statusCode(), reply.body());
                boolean decided = expected.get(i).get("steering").get("condition_met").asBoolean();
                String what = "row " + i + " (" + prompts.get(i) + ")";
                if (i % 4 == 3) {
                    List<JsonNode> events = events(reply.body());
                    StringBuilder text = new StringBuilder();
                    for (JsonNode event : events.subList(0, events.size() - 1)) {
                        JsonNode choice = event.get("choices").get(0);
                        text.append(choice.get("text").asText());
                        assertFalse(choice.has("steering"), "only the last chunk reports the decision: " + event);
                    }
                    JsonNode last = events.get(events.size() - 1);
                    JsonNode choice = last.get("choices").get(0);
                    assertEquals("length", choice.get("finish_reason").asText(), last.toString());
                    assertEquals(decided, choice.get("steering").get("condition_met").asBoolean(), what + ": " + last);
                    assertEquals(expected.get(i).get("text").asText(), text.toString(), what);
                    assertEquals(expected.get(i).get("generated_tokens").asInt(),
                            last.get("usage").get("completion_tokens").asInt(), what);
                } else {
                    JsonNode json = JSON.readTree(reply.body());
                    JsonNode choice = json.get("choices").get(0);
                    assertEquals(expected.get(i).get("text").asText(), choice.get("text").asText(), what);
                    assertEquals(expected.get(i).get("generated_tokens").asInt(),
                            json.get("usage").get("completion_tokens").asInt(), what);
                    assertEquals(decided, choice.get("steering").get("condition_met").asBoolean(), what + ": " + json);
                    assertEquals("length", choice.get("finish_reason").asText());
                }
            }
            String metrics = metrics(server.uri());
            assertTrue(metrics.contains("onnxsteer_batches_total 1\n"), "all twelve shared one batch:\n" + metrics);
            assertTrue(metrics.contains("onnxsteer_condition_total{met=\"true\"} " + met + "\n"), metrics);
            assertTrue(metrics.contains("onnxsteer_condition_total{met=\"false\"} " + (prompts.size() - met) + "\n"),
                    metrics);
        }
    }

    @Test
    void chatAnswersReportTheDecisionAndAnUnconditionalModelReportsNone() throws Exception {
        String messages = "[{\"role\": \"user\", \"content\": " + JSON.valueToTree(ConditionalSteeringTest.ANIMALS.get(0))
                + "}]";
        JsonNode generated = generate(List.of(ConditionalSteeringTest.ANIMALS.get(0)), 12, "--chat-template", template)
                .get(0);
        assertTrue(generated.get("steering").has("condition_met"), generated.toString());
        try (ServedModel served = ServedModel.open(ModelFiles.locate(conditional, null), vectors, SessionConfig.cpu(),
                ServeOptions.DEFAULTS.withChatTemplate(Path.of(template)));
                SteerServer server = SteerServer.start(served, ServerConfig.defaults().withPort(0))) {
            String body = "{\"messages\": " + messages + ", \"max_tokens\": 12, \"temperature\": 0";
            JsonNode reply = JSON.readTree(CLIENT.send(post(server.uri(), "/v1/chat/completions", body + "}"),
                    HttpResponse.BodyHandlers.ofString()).body());
            JsonNode choice = reply.get("choices").get(0);
            assertEquals(generated.get("text").asText(), choice.get("message").get("content").asText(), reply.toString());
            assertEquals(generated.get("steering"), choice.get("steering"), reply.toString());
            List<JsonNode> events = events(CLIENT.send(post(server.uri(), "/v1/chat/completions",
                    body + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}"),
                    HttpResponse.BodyHandlers.ofString()).body());
            JsonNode finished = events.get(events.size() - 2).get("choices").get(0);
            assertEquals("length", finished.get("finish_reason").asText(), events.toString());
            assertEquals(generated.get("steering"), finished.get("steering"), events.toString());
            assertEquals(0, events.get(events.size() - 1).get("choices").size(), "the usage chunk has no choices");
        }
        try (ServedModel plain = ServedModel.open(ModelFiles.locate(model, null), vectors, SessionConfig.cpu());
                SteerServer server = SteerServer.start(plain, ServerConfig.defaults().withPort(0))) {
            assertFalse(plain.conditional());
            JsonNode reply = JSON.readTree(CLIENT.send(post(server.uri(), "/v1/completions",
                    "{\"prompt\": \"The cat\", \"max_tokens\": 4, \"temperature\": 0}"), HttpResponse.BodyHandlers.ofString())
                    .body());
            assertFalse(reply.get("choices").get(0).has("steering"), reply.toString());
            assertFalse(metrics(server.uri()).contains("onnxsteer_condition_total"));
        }
    }
}
