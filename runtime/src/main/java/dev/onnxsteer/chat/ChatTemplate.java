package dev.onnxsteer.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Hugging Face chat template ({@code chat_template} of {@code tokenizer_config.json}) rendered
 * with HubSpot's jinjava, set up to behave as transformers' {@code apply_chat_template} does with
 * Python's Jinja2: blocks trimmed and left-stripped, {@code raise_exception}, {@code strftime_now},
 * and a {@code tojson} that neither escapes HTML nor sorts keys. Immutable and thread-safe.
 */
public final class ChatTemplate {
    private static final Jinjava JINJAVA = JinjavaSetup.create();

    private final String source;
    private final String rendered;
    private final String bosToken;
    private final String eosToken;

    /**
     * @param source   the template text
     * @param bosToken what {@code bos_token} renders as (may be null: then it is undefined, as in HF)
     * @param eosToken what {@code eos_token} renders as (may be null)
     */
    public ChatTemplate(String source, String bosToken, String eosToken) {
        this.source = Objects.requireNonNull(source, "source");
        this.rendered = JinjaPrecedence.rewrite(source);
        this.bosToken = bosToken;
        this.eosToken = eosToken;
    }

    public String source() {
        return source;
    }

    public String bosToken() {
        return bosToken;
    }

    public String eosToken() {
        return eosToken;
    }

    /** {@link #render(List, boolean, Map)} with no extra variables. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /**
     * The prompt text of {@code messages}, as {@code apply_chat_template(messages, tokenize=False,
     * add_generation_prompt=...)} gives it.
     *
     * @param variables further template variables (HF passes {@code tools}, {@code documents},
     *                  {@code date_string} and other keyword arguments this way); values are plain
     *                  Java maps, lists, strings, numbers and booleans
     * @throws ChatTemplateException when the template does not parse or refuses the conversation
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> variables) {
        Map<String, Object> bindings = new LinkedHashMap<>();
        if (bosToken != null) {
            bindings.put("bos_token", bosToken);
        }
        if (eosToken != null) {
            bindings.put("eos_token", eosToken);
        }
        bindings.put("tools", null);
        bindings.putAll(variables);
        List<Map<String, Object>> turns = new ArrayList<>();
        for (ChatMessage m : messages) {
            Map<String, Object> turn = new LinkedHashMap<>();
            turn.put("role", m.role());
            turn.put("content", m.content());
            turns.add(turn);
        }
        bindings.put("messages", turns);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result = JINJAVA.renderForResult(rendered, bindings);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new ChatTemplateException(JinjavaSetup.describe(error));
            }
        }
        return result.getOutput();
    }
}
