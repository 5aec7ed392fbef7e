package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import dev.onnxsteer.TestPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * langchain4j's OpenAI module (a real client: its own HTTP stack, JSON mapping and SSE parsing)
 * against {@code serve}: chat, streaming chat, completions, and steering through its custom
 * parameters (what Python's SDK calls extra_body). Every text equals {@code generate}'s.
 */
class LangChain4jClientTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SYSTEM = "You tell stories.";
    private static final String USER = "Tell me about a dog.";
    @TempDir
    static Path tmp;
    static Path model;
    static Path vector;
    static String template;
    static RunningServe serve;
    static String baseUrl;

    @BeforeAll
    static void start() throws Exception {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        model = tmp.resolve("stories");
        assertEquals(Main.OK, run("import", gguf.toString(), "-o", model.toString()).code());
        Path vectors = Files.createDirectories(tmp.resolve("vectors"));
        vector = vectors.resolve("sad.gguf");
        CliRun extract = run("extract", model.toString(), "--positive", "Lily was sad", "--negative", "Lily was happy",
                "--layers", "3", "--device", "cpu", "--quiet", "-o", vector.toString());
        assertEquals(Main.OK, extract.code(), extract.err());
        template = TestPaths.testdata().resolve("chat-templates/llama2.jinja").toString();
        serve = new RunningServe(model.toString(), "--vectors", vectors.toString(), "--port", "0", "--device", "cpu",
                "--api-key", "lc4j", "--chat-template", template);
        baseUrl = serve.base + "/v1";
    }

    @AfterAll
    static void stop() throws Exception {
        if (serve != null) {
            assertEquals(Main.OK, serve.stop(), serve.err.toString());
        }
    }

    private static JsonNode generate(String... options) throws Exception {
        List<String> args = new ArrayList<>(List.of("generate", model.toString(), "--device", "cpu", "--json"));
        args.addAll(List.of(options));
        CliRun r = run(args.toArray(String[]::new));
        assertEquals(Main.OK, r.code(), r.err());
        return JSON.readTree(r.out());
    }

    private static JsonNode generateChat(String... options) throws Exception {
        List<String> args = new ArrayList<>(List.of("--chat-template", template, "--system", SYSTEM, "--prompt", USER));
        args.addAll(List.of(options));
        return generate(args.toArray(String[]::new));
    }

    private static ChatRequest conversation() {
        return ChatRequest.builder().messages(SystemMessage.from(SYSTEM), UserMessage.from(USER)).build();
    }

    @Test
    void chatEqualsGenerateChat() throws Exception {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(baseUrl).apiKey("lc4j").modelName("stories")
                .temperature(0.0).maxTokens(40).maxRetries(0).build();
        ChatResponse reply = chat.chat(conversation());
        JsonNode expected = generateChat("--max-tokens", "40");
        assertEquals(expected.get("text").asText(), reply.aiMessage().text());
        assertEquals(expected.get("generated_tokens").asInt(), reply.tokenUsage().outputTokenCount());
        assertEquals(expected.get("prompt_tokens").asInt(), reply.tokenUsage().inputTokenCount());
        assertEquals(FinishReason.LENGTH, reply.finishReason());
    }

    @Test
    void steeringThroughCustomParametersEqualsGenerateVector() throws Exception {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(baseUrl).apiKey("lc4j").modelName("stories")
                .temperature(0.0).maxTokens(40).maxRetries(0)
                .customParameters(Map.of("steering", List.of(Map.of("vector", "sad", "scale", 6)))).build();
        String steered = chat.chat(conversation()).aiMessage().text();
        assertEquals(generateChat("--max-tokens", "40", "--vector", vector + ":6").get("text").asText(), steered);
        assertNotEquals(generateChat("--max-tokens", "40").get("text").asText(), steered, "the vector changes the reply");
    }

    @Test
    void streamingChatEqualsGenerateChat() throws Exception {
        OpenAiStreamingChatModel chat = OpenAiStreamingChatModel.builder().baseUrl(baseUrl).apiKey("lc4j")
                .modelName("stories").temperature(0.7).seed(3).maxTokens(30).build();
        StringBuilder pieces = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        chat.chat(conversation(), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                pieces.append(partial);
            }

            @Override
            public void onCompleteResponse(ChatResponse complete) {
                done.complete(complete);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse complete = done.get(120, TimeUnit.SECONDS);
        JsonNode expected = generateChat("--max-tokens", "30", "--temperature", "0.7", "--seed", "3");
        assertTrue(pieces.length() > 0, "partial responses arrived");
        assertEquals(expected.get("text").asText(), pieces.toString());
        assertEquals(expected.get("text").asText(), complete.aiMessage().text());
    }

    @Test
    void completionsEqualGenerate() throws Exception {
        OpenAiLanguageModel completions = OpenAiLanguageModel.builder().baseUrl(baseUrl).apiKey("lc4j")
                .modelName("stories").temperature(0.0).maxRetries(0).build();
        Response<String> reply = completions.generate("Once upon a time");
        // the client sends no max_tokens, so the server's completions default of 16 applies
        JsonNode expected = generate("--prompt", "Once upon a time", "--max-tokens", "16");
        assertEquals(expected.get("text").asText(), reply.content());
        assertEquals(16, reply.tokenUsage().outputTokenCount());
    }
}
