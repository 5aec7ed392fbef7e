package dev.onnxsteer.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import dev.onnxsteer.TestPaths;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Real Hugging Face chat templates rendered by jinjava must equal what Python's Jinja2 renders, byte
 * for byte. The templates ({@code testdata/chat-templates/*.jinja}) were written down from the
 * {@code chat_template} field of each model's {@code tokenizer_config.json} on the Hugging Face hub:
 * <ul>
 *   <li>{@code llama3.jinja}: meta-llama/Meta-Llama-3-8B-Instruct</li>
 *   <li>{@code qwen2.5.jinja}: Qwen/Qwen2.5-7B-Instruct (tools branch included)</li>
 *   <li>{@code gemma2.jinja}: google/gemma-2-2b-it</li>
 *   <li>{@code phi3.jinja}: microsoft/Phi-3-mini-4k-instruct</li>
 *   <li>{@code mistral.jinja}: mistralai/Mistral-7B-Instruct-v0.2</li>
 *   <li>{@code llama2.jinja}: meta-llama/Llama-2-7b-chat-hf (also the template the stories260K chat tests use)</li>
 *   <li>{@code features.jinja}: not a model's template; the constructs of newer templates (namespace,
 *       {@code .strip()}, {@code .split()}, slicing, {@code loop.length}, {@code tojson}, {@code is defined})</li>
 * </ul>
 * The expected strings in {@code expected.json} were produced by Python's Jinja2 with HF's settings by
 * {@code testdata/chat-templates/render_expected.py} from {@code cases.json}; a case that HF
 * refuses through {@code raise_exception} carries the message instead.
 */
class ChatTemplateTableTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TestFactory
    Stream<DynamicTest> jinjavaRendersAsJinja2() throws IOException {
        JsonNode cases = read("cases.json");
        JsonNode expected = read("expected.json").get("cases");
        assertEquals(cases.size(), expected.size(), "expected.json is stale: rerun testdata/chat-templates/render_expected.py");
        List<DynamicTest> tests = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            JsonNode c = cases.get(i);
            JsonNode e = expected.get(i);
            assertEquals(c.get("name").asText(), e.get("name").asText(), "expected.json is stale");
            tests.add(DynamicTest.dynamicTest(c.get("name").asText(), () -> check(c, e)));
        }
        return tests.stream();
    }

    private static void check(JsonNode c, JsonNode e) throws IOException {
        String source = text(c.get("template").asText());
        @SuppressWarnings("unchecked")
        Map<String, Object> variables = JSON.convertValue(c.get("variables"), Map.class);
        Object bos = variables.remove("bos_token");
        Object eos = variables.remove("eos_token");
        ChatTemplate template = new ChatTemplate(source, (String) bos, (String) eos);
        List<ChatMessage> messages = new ArrayList<>();
        for (JsonNode m : c.get("messages")) {
            messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        boolean generation = c.get("add_generation_prompt").asBoolean();
        if (e.has("error")) {
            ChatTemplateException error = assertThrows(ChatTemplateException.class,
                    () -> template.render(messages, generation, variables));
            assertEquals(e.get("error").asText(), error.getMessage());
        } else {
            assertEquals(e.get("expected").asText(), template.render(messages, generation, variables));
        }
    }

    private static JsonNode read(String name) throws IOException {
        return JSON.readTree(text(name));
    }

    private static String text(String name) throws IOException {
        return Files.readString(TestPaths.testdata().resolve("chat-templates").resolve(name), StandardCharsets.UTF_8);
    }
}
