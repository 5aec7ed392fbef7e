package dev.onnxsteer.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.BadInputException;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.generate.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * How a model turns a conversation into prompt token ids, and which tokens end its turn: its chat
 * template, rendered with {@code add_generation_prompt} and tokenized without adding special tokens
 * (the template writes {@code bos_token} itself), as transformers' {@code apply_chat_template(...,
 * tokenize=True)} does. {@code generate --chat} and {@code serve}'s chat endpoint share this, so
 * both feed the model the same ids.
 */
public final class ChatFormat {
    /** Tokens that end a turn in the chat formats in use; one is a stop token when the template writes it. */
    private static final List<String> END_OF_TURN = List.of("<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>",
            "<|eom_id|>", "<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>");

    private final ChatTemplate template;
    private final Tokenizer tokenizer;
    private final List<Long> stopIds;
    private final String origin;

    private ChatFormat(ChatTemplate template, Tokenizer tokenizer, String origin) {
        this.template = template;
        this.tokenizer = tokenizer;
        this.origin = origin;
        this.stopIds = stopIds(template, tokenizer);
    }

    /**
     * The chat format of a model: the template in {@code templateFile} when given, else the
     * {@code chat_template} of the {@code tokenizer_config.json} (or {@code chat_template.jinja})
     * next to the tokenizer.
     *
     * @return empty when no template is given and the model has none
     * @throws BadInputException when the template file cannot be read
     */
    public static Optional<ChatFormat> load(Tokenizer tokenizer, Path templateFile) {
        JsonNode config = tokenizerConfig(tokenizer.file());
        String bos = tokenText(config, "bos_token", tokenizer, tokenizer.bosTokenId().isPresent()
                ? List.of(tokenizer.bosTokenId().getAsLong()) : List.of());
        String eos = tokenText(config, "eos_token", tokenizer, tokenizer.eosTokenIds());
        if (templateFile != null) {
            return Optional.of(new ChatFormat(new ChatTemplate(readTemplate(templateFile), bos, eos), tokenizer,
                    templateFile.toString()));
        }
        Path jinja = tokenizer.file().resolveSibling("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            return Optional.of(new ChatFormat(new ChatTemplate(readTemplate(jinja), bos, eos), tokenizer, jinja.toString()));
        }
        String source = config == null ? null : templateSource(config.get("chat_template"));
        if (source == null) {
            return Optional.empty();
        }
        return Optional.of(new ChatFormat(new ChatTemplate(source, bos, eos), tokenizer,
                tokenizer.file().resolveSibling("tokenizer_config.json").toString()));
    }

    public ChatTemplate template() {
        return template;
    }

    /** Where the template came from (a file path), for messages. */
    public String origin() {
        return origin;
    }

    /** The rendered prompt: {@code messages} and the opening of the assistant's turn. */
    public String render(List<ChatMessage> messages) {
        return template.render(messages, true);
    }

    /**
     * The prompt ids of {@code messages}, ready to generate the assistant's reply.
     *
     * @throws ChatTemplateException when the template refuses the conversation or renders nothing
     */
    public long[] encode(List<ChatMessage> messages) {
        String text = render(messages);
        if (text.isEmpty()) {
            throw new ChatTemplateException("the chat template rendered an empty prompt");
        }
        synchronized (tokenizer) {
            return tokenizer.encode(text, false);
        }
    }

    /**
     * The ids that end the assistant's turn: the model's EOS ids plus every end-of-turn token the
     * template writes that the tokenizer knows as one token.
     */
    public List<Long> stopIds() {
        return stopIds;
    }

    private static List<Long> stopIds(ChatTemplate template, Tokenizer tokenizer) {
        Set<Long> ids = new LinkedHashSet<>(tokenizer.eosTokenIds());
        Map<String, Long> special = tokenizer.specialTokens();
        for (String token : END_OF_TURN) {
            boolean written = template.source().contains(token) || token.equals(template.eosToken());
            if (written && special.containsKey(token)) {
                ids.add(special.get(token));
            }
        }
        return List.copyOf(new ArrayList<>(ids));
    }

    private static String readTemplate(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new BadInputException("cannot read chat template " + file + ": " + e.getMessage());
        }
    }

    private static JsonNode tokenizerConfig(Path tokenizerFile) {
        Path file = tokenizerFile.resolveSibling("tokenizer_config.json");
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new BadModelException("cannot read " + file + " as JSON: " + e.getMessage(), e);
        }
    }

    /** {@code chat_template} is a string, or a list of {@code {"name", "template"}} of which "default" is used. */
    private static String templateSource(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.textValue();
        }
        if (node.isArray()) {
            for (JsonNode named : node) {
                if ("default".equals(named.path("name").asText())) {
                    return named.path("template").asText();
                }
            }
        }
        throw new BadModelException("chat_template in tokenizer_config.json must be a string or a list of "
                + "{\"name\", \"template\"} with a \"default\" entry, got " + node.getNodeType().name().toLowerCase());
    }

    /** {@code bos_token}/{@code eos_token} of tokenizer_config.json (a string or {"content"}), else the first id's text. */
    private static String tokenText(JsonNode config, String key, Tokenizer tokenizer, List<Long> ids) {
        JsonNode value = config == null ? null : config.get(key);
        if (value != null && value.isTextual()) {
            return value.textValue();
        }
        if (value != null && value.path("content").isTextual()) {
            return value.path("content").textValue();
        }
        if (ids.isEmpty()) {
            return null;
        }
        long id = ids.get(0);
        for (Map.Entry<String, Long> e : tokenizer.specialTokens().entrySet()) {
            if (e.getValue() == id) {
                return e.getKey();
            }
        }
        synchronized (tokenizer) {
            return tokenizer.decode(new long[] {id}, false);
        }
    }
}
