package dev.onnxsteer.importer;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.io.ModelFiles;

/**
 * {@code genai_config.json} as the onnxruntime-genai model builder writes it beside a {@link GenaiGraph} decoder
 * for CPU: the decoder's input and output names (past and present as {@code %d} patterns), its attention sizes,
 * the context length, vocabulary, special tokens and greedy search defaults. Past and present do not share a
 * buffer: the graph's present outputs are past + new ({@code past_present_share_buffer} false).
 */
public final class GenaiConfig {
    public static final String FILE = "genai_config.json";

    private GenaiConfig() {}

    /** The config of {@code c}'s decoder; {@code type} is onnxruntime-genai's model type (llama, qwen2, phi3, gemma). */
    public static ObjectNode json(LlamaConfig c, String type) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        ObjectNode model = root.putObject("model");
        model.put("bos_token_id", c.bosTokenId());
        model.put("context_length", c.contextLength());
        ObjectNode decoder = model.putObject("decoder");
        ObjectNode session = decoder.putObject("session_options");
        session.put("log_id", "onnxruntime-genai");
        session.putArray("provider_options");
        decoder.put("filename", ModelFiles.MODEL_FILE);
        decoder.put("head_size", c.headDim());
        decoder.put("hidden_size", c.hiddenSize());
        ObjectNode inputs = decoder.putObject("inputs");
        inputs.put("input_ids", "input_ids");
        inputs.put("attention_mask", "attention_mask");
        inputs.put("past_key_names", "past_key_values.%d.key");
        inputs.put("past_value_names", "past_key_values.%d.value");
        ObjectNode outputs = decoder.putObject("outputs");
        outputs.put("logits", "logits");
        outputs.put("present_key_names", "present.%d.key");
        outputs.put("present_value_names", "present.%d.value");
        decoder.put("num_attention_heads", c.heads());
        decoder.put("num_hidden_layers", c.layers());
        decoder.put("num_key_value_heads", c.kvHeads());
        model.put("eos_token_id", c.eosTokenId());
        model.put("pad_token_id", c.padTokenId() >= 0 ? c.padTokenId() : c.eosTokenId());
        model.put("type", type);
        model.put("vocab_size", c.vocabSize());
        ObjectNode search = root.putObject("search");
        search.put("diversity_penalty", 0.0);
        search.put("do_sample", false);
        search.put("early_stopping", true);
        search.put("length_penalty", 1.0);
        search.put("max_length", c.contextLength());
        search.put("min_length", 0);
        search.put("no_repeat_ngram_size", 0);
        search.put("num_beams", 1);
        search.put("num_return_sequences", 1);
        search.put("past_present_share_buffer", false);
        search.put("repetition_penalty", 1.0);
        search.put("temperature", 1.0);
        search.put("top_k", 1);
        search.put("top_p", 1.0);
        return root;
    }
}
