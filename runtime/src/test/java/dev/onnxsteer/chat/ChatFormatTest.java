package dev.onnxsteer.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.importer.GgufImporter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where a model's chat template comes from, how a conversation is tokenized, and which tokens end a turn. */
class ChatFormatTest {
    private static final String CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
            + "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    private static final List<ChatMessage> HELLO = List.of(new ChatMessage("user", "Hello"));

    @TempDir
    static Path tmp;
    static Path stories;

    @BeforeAll
    static void importStories() {
        stories = tmp.resolve("stories");
        GgufImporter.importModel(TestPaths.sharedModel("stories260K/stories260K.gguf"), stories);
    }

    @Test
    void noTemplateMeansNoChatFormat() {
        try (Tokenizer tokenizer = Tokenizer.load(stories)) {
            assertTrue(ChatFormat.load(tokenizer, null).isEmpty());
        }
    }

    /** The Llama 2 template writes bos_token as text; tokenized without added specials it is the one BOS id, not "<s>" spelt out. */
    @Test
    void templateFileRendersBosAsTheBosToken() {
        try (Tokenizer tokenizer = Tokenizer.load(stories)) {
            ChatFormat format = ChatFormat.load(tokenizer, TestPaths.testdata().resolve("chat-templates/llama2.jinja"))
                    .orElseThrow();
            assertEquals("<s>", format.template().bosToken());
            assertEquals("</s>", format.template().eosToken());
            assertEquals("<s>[INST] Hello [/INST]", format.render(HELLO));
            long[] ids = format.encode(HELLO);
            long[] body = tokenizer.encode("[INST] Hello [/INST]", false);
            assertEquals(1, ids[0]);
            assertArrayEquals(body, java.util.Arrays.copyOfRange(ids, 1, ids.length));
            assertEquals(List.of(2L), format.stopIds());
            ChatTemplateException refused = assertThrows(ChatTemplateException.class, () -> format.encode(List.of(
                    new ChatMessage("user", "a"), new ChatMessage("user", "b"))));
            assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", refused.getMessage());
        }
    }

    /** chat_template from tokenizer_config.json, its bos/eos strings, and <|im_end|> as a stop token because the template writes it. */
    @Test
    void tokenizerConfigTemplateAndItsEndOfTurnToken() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("chatml"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode tok = (ObjectNode) json.readTree(stories.resolve("tokenizer.json").toFile());
        ObjectNode imEnd = ((ArrayNode) tok.get("added_tokens")).addObject();
        imEnd.put("id", 512).put("content", "<|im_end|>").put("single_word", false).put("lstrip", false)
                .put("rstrip", false).put("normalized", false).put("special", true);
        json.writeValue(dir.resolve("tokenizer.json").toFile(), tok);
        ObjectNode config = json.createObjectNode();
        config.put("chat_template", CHATML);
        config.put("bos_token", "<s>");
        config.putObject("eos_token").put("content", "</s>");
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            ChatFormat format = ChatFormat.load(tokenizer, null).orElseThrow();
            assertTrue(format.origin().endsWith("tokenizer_config.json"), format.origin());
            assertEquals("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", format.render(HELLO));
            assertEquals(List.of(2L, 512L), format.stopIds());
            long[] ids = format.encode(HELLO);
            assertTrue(java.util.Arrays.stream(ids).anyMatch(id -> id == 512), java.util.Arrays.toString(ids));
        }
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ messages[0].content }}!");
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            ChatFormat format = ChatFormat.load(tokenizer, null).orElseThrow();
            assertEquals("Hello!", format.render(HELLO), "chat_template.jinja beside the tokenizer wins");
            assertEquals(List.of(2L), format.stopIds(), "this template writes no <|im_end|>");
        }
    }

    @Test
    void unreadableTemplateFileIsBadInput() {
        try (Tokenizer tokenizer = Tokenizer.load(stories)) {
            var e = assertThrows(dev.onnxsteer.BadInputException.class,
                    () -> ChatFormat.load(tokenizer, tmp.resolve("missing.jinja")));
            assertTrue(e.getMessage().startsWith("cannot read chat template "), e.getMessage());
        }
    }

    @Test
    void syntaxErrorsAreChatTemplateErrorsWithTheLine() {
        ChatTemplate broken = new ChatTemplate("line one\n{% if messages %}no end", null, null);
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> broken.render(HELLO, true));
        assertTrue(e.getMessage().contains("line"), e.getMessage());
    }
}
