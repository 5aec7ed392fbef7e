package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code generate --chat} and {@code serve}'s /v1/chat/completions give the same reply, token for token. */
class ChatCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path tmp;
    static Path model;
    static Path vectors;
    static String template;

    @BeforeAll
    static void importModel() throws Exception {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        model = tmp.resolve("stories");
        assertEquals(Main.OK, run("import", gguf.toString(), "-o", model.toString()).code());
        vectors = Files.createDirectories(tmp.resolve("vectors"));
        float[] v = new float[64];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) Math.cos(i * 0.9) * 0.9f;
        }
        VectorFiles.write(SteeringVectors.of(Map.of(3, v), VectorMetadata.defaults()), vectors.resolve("wave.gguf"));
        template = TestPaths.testdata().resolve("chat-templates/llama2.jinja").toString();
    }

    private static JsonNode generateChat(String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("generate", model.toString(), "--chat-template", template,
                "--device", "cpu", "--json", "--system", "You tell stories.", "--prompt", "Tell me about a dog."));
        args.addAll(List.of(extra));
        CliRun r = run(args.toArray(String[]::new));
        assertEquals(Main.OK, r.code(), r.err());
        return JSON.readTree(r.out());
    }

    @Test
    void serveChatEqualsGenerateChat() throws Exception {
        RunningServe serve = new RunningServe(model.toString(), "--vectors", vectors.toString(), "--port", "0",
                "--device", "cpu", "--chat-template", template);
        try {
            assertTrue(serve.err.toString().contains("chat template " + template), serve.err.toString());
            HttpClient client = HttpClient.newHttpClient();
            String messages = "[{\"role\": \"system\", \"content\": \"You tell stories.\"},"
                    + " {\"role\": \"user\", \"content\": \"Tell me about a dog.\"}]";
            String[][] cases = {
                    {"\"max_tokens\": 48, \"temperature\": 0", "--max-tokens", "48"},
                    {"\"max_tokens\": 40, \"temperature\": 0.7, \"top_p\": 0.9, \"seed\": 11", "--max-tokens", "40",
                            "--temperature", "0.7", "--top-p", "0.9", "--seed", "11"},
                    {"\"max_tokens\": 48, \"temperature\": 0, \"steering\": [{\"vector\": \"wave\", \"scale\": 4}]",
                            "--max-tokens", "48", "--vector", vectors.resolve("wave.gguf") + ":4"}};
            List<String> replies = new ArrayList<>();
            for (String[] c : cases) {
                HttpResponse<String> reply = client.send(HttpRequest.newBuilder(serve.base.resolve("/v1/chat/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"messages\": " + messages + ", " + c[0] + "}")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, reply.statusCode(), reply.body());
                JsonNode served = JSON.readTree(reply.body());
                JsonNode generated = generateChat(java.util.Arrays.copyOfRange(c, 1, c.length));
                String text = served.get("choices").get(0).get("message").get("content").asText();
                assertEquals(generated.get("text").asText(), text, c[0]);
                assertEquals(generated.get("generated_tokens").asInt(), served.get("usage").get("completion_tokens").asInt());
                assertEquals(generated.get("prompt_tokens").asInt(), served.get("usage").get("prompt_tokens").asInt());
                replies.add(text);
            }
            assertNotEquals(replies.get(0), replies.get(2), "the vector changes the reply");
        } finally {
            assertEquals(Main.OK, serve.stop(), serve.err.toString());
        }
    }

    @Test
    void generateChatStreamsOnlyTheReply() throws Exception {
        CliRun streamed = run("generate", model.toString(), "--chat-template", template, "--device", "cpu",
                "--max-tokens", "20", "--prompt", "Hello");
        assertEquals(Main.OK, streamed.code(), streamed.err());
        JsonNode json = JSON.readTree(run("generate", model.toString(), "--chat-template", template, "--device", "cpu",
                "--max-tokens", "20", "--prompt", "Hello", "--json").out());
        assertEquals(json.get("text").asText() + "\n", streamed.out());
        assertEquals("[INST] Hello [/INST]", json.get("prompt").asText());
    }

    @Test
    void chatWithoutATemplateIsAUsageError() {
        CliRun r = run("generate", model.toString(), "--chat", "--device", "cpu", "--prompt", "Hi");
        assertEquals(Main.USAGE, r.code(), r.err());
        assertTrue(r.err().contains("has no chat template") && r.err().contains("--chat-template FILE"), r.err());
        CliRun system = run("generate", model.toString(), "--system", "x", "--device", "cpu", "--prompt", "Hi");
        assertEquals(Main.USAGE, system.code(), system.err());
        CliRun missing = run("generate", model.toString(), "--chat-template", tmp.resolve("none.jinja").toString(),
                "--device", "cpu", "--prompt", "Hi");
        assertEquals(Main.BAD_INPUT, missing.code(), missing.err());
    }
}
