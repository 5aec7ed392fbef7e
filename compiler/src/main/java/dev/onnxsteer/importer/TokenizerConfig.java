package dev.onnxsteer.importer;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.gguf.GgufMetadata;
import java.util.List;

/**
 * {@code tokenizer_config.json} from a GGUF's {@code tokenizer.*} metadata, as Hugging Face loaders and
 * transformers.js read it beside {@code tokenizer.json}: the special tokens by text, whether BOS/EOS are
 * added (GGUF {@code add_bos_token}/{@code add_eos_token}; absent, llama.cpp's default for the vocabulary, see
 * {@link TokenizerJson#addBos}), the context length and {@code tokenizer.chat_template}.
 */
final class TokenizerConfig {
    private TokenizerConfig() {}

    static ObjectNode build(GgufMetadata md, int contextLength) {
        List<String> tokens = md.getStringArray("tokenizer.ggml.tokens");
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("tokenizer_class", "PreTrainedTokenizerFast");
        n.put("add_bos_token", TokenizerJson.addBos(md));
        n.put("add_eos_token", md.findBool("tokenizer.ggml.add_eos_token").orElse(false));
        token(n, "bos_token", md, "tokenizer.ggml.bos_token_id", tokens);
        token(n, "eos_token", md, "tokenizer.ggml.eos_token_id", tokens);
        token(n, "unk_token", md, "tokenizer.ggml.unknown_token_id", tokens);
        token(n, "pad_token", md, "tokenizer.ggml.padding_token_id", tokens);
        n.put("model_max_length", contextLength);
        n.put("clean_up_tokenization_spaces", false);
        md.findString("tokenizer.chat_template").ifPresent(t -> n.put("chat_template", t));
        return n;
    }

    private static void token(ObjectNode n, String field, GgufMetadata md, String key, List<String> tokens) {
        long id = md.findLong(key).orElse(-1);
        if (id >= 0 && id < tokens.size()) {
            n.put(field, tokens.get((int) id));
        }
    }
}
