package dev.onnxsteer.importer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.OnnxSteer;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.Provenance;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Imports a llama GGUF into a model directory shaped like an Optimum export: {@code model.onnx} (with
 * KV cache inputs and outputs, see {@link LlamaGraph}), {@code config.json} in Hugging Face format,
 * {@code generation_config.json}, {@code tokenizer.json} (see {@link TokenizerJson}) and {@code
 * tokenizer_config.json} (the special tokens by name, which transformers.js and Hugging Face
 * transformers need before they load a tokenizer). Weights are
 * dequantised to float32; models with more than 1 GiB of weights get their weights in external data
 * ({@code model.onnx.data}). The directory is written under a temporary name beside the target and
 * renamed into place, so a failed import leaves nothing behind.
 */
public final class GgufImporter {
    /** Above this many bytes of weights the model is written with external data. */
    public static final long EXTERNAL_DATA_THRESHOLD = 1L << 30;

    /** What an import produced. */
    public record Result(Path directory, LlamaConfig config, int nodes, long weightBytes, boolean externalData) {}

    private GgufImporter() {}

    /** Imports {@code gguf} into {@code outputDirectory}, which must not exist or be empty. */
    public static Result importModel(Path gguf, Path outputDirectory) {
        return importModel(gguf, OutputTarget.refuseExisting(outputDirectory), false);
    }

    /**
     * Imports {@code gguf} into the output directory; the GGUF file is added to the inputs it protects.
     *
     * @throws dev.onnxsteer.BadModelException when the file is not a llama GGUF the importer can reproduce
     * @throws IllegalArgumentException when the output may not be written (see {@link AtomicFiles#checkDirectoryTarget})
     */
    /**
     * As {@link #importModel(Path, Path)}; {@code allowNonfinite} imports weights that are NaN or infinite
     * instead of refusing the file (see {@link GgufFile#open(Path, boolean)}).
     */
    public static Result importModel(Path gguf, OutputTarget output, boolean allowNonfinite) {
        OutputTarget checked = output.withInputs(List.of(gguf));
        AtomicFiles.checkDirectoryTarget(checked);
        Path target = checked.absolute();
        try (GgufFile file = GgufFile.open(gguf, allowNonfinite)) {
            LlamaConfig config = LlamaConfig.from(file);
            ObjectNode tokenizer = TokenizerJson.build(file.metadata(), gguf.toString());
            Model model = LlamaGraph.build(file, config);
            model.metadata().put("onnx_steer.version", OnnxSteer.VERSION);
            model.metadata().put("onnx_steer.imported_from", gguf.getFileName().toString());
            model.metadata().put("onnx_steer.imported_sha256", Provenance.sha256(gguf));
            long weightBytes = config.weightBytes();
            boolean external = weightBytes > EXTERNAL_DATA_THRESHOLD;

            Path parent = target.getParent();
            Files.createDirectories(parent);
            Path temp = AtomicFiles.stagingDirectory(target);
            try {
                ModelWriter.write(model, temp.resolve(ModelFiles.MODEL_FILE), external);
                Files.write(temp.resolve(ModelFiles.CONFIG_FILE), json(configJson(config)));
                Files.write(temp.resolve("generation_config.json"), json(generationConfig(config)));
                Files.write(temp.resolve(ModelFiles.TOKENIZER_FILE), TokenizerJson.toBytes(tokenizer));
                Files.write(temp.resolve("tokenizer_config.json"), json(tokenizerConfig(config, tokenizer)));
                AtomicFiles.replaceDirectory(temp, checked);
                temp = null;
            } finally {
                if (temp != null) {
                    AtomicFiles.deleteTree(temp);
                }
            }
            return new Result(target, config, model.graph().nodes().size(), weightBytes, external);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    /** config.json as Hugging Face writes it for LlamaForCausalLM. */
    static ObjectNode configJson(LlamaConfig c) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.putArray("architectures").add("LlamaForCausalLM");
        n.put("model_type", "llama");
        n.put("hidden_size", c.hiddenSize());
        n.put("intermediate_size", c.intermediateSize());
        n.put("num_hidden_layers", c.layers());
        n.put("num_attention_heads", c.heads());
        n.put("num_key_value_heads", c.kvHeads());
        n.put("head_dim", c.headDim());
        n.put("hidden_act", "silu");
        n.put("rms_norm_eps", c.rmsNormEps());
        n.put("rope_theta", c.ropeTheta());
        if (c.ropeLinearFactor() != 1f) {
            n.putObject("rope_scaling").put("type", "linear").put("factor", c.ropeLinearFactor());
        } else {
            n.putNull("rope_scaling");
        }
        n.put("vocab_size", c.vocabSize());
        n.put("max_position_embeddings", c.contextLength());
        n.put("bos_token_id", c.bosTokenId());
        n.put("eos_token_id", c.eosTokenId());
        if (c.padTokenId() >= 0) {
            n.put("pad_token_id", c.padTokenId());
        }
        n.put("tie_word_embeddings", c.tiedEmbeddings());
        n.put("attention_bias", false);
        n.put("mlp_bias", false);
        n.put("use_cache", true);
        n.put("torch_dtype", "float32");
        n.put("_name_or_path", c.name());
        return n;
    }

    static ObjectNode generationConfig(LlamaConfig c) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("bos_token_id", c.bosTokenId());
        n.put("eos_token_id", c.eosTokenId());
        if (c.padTokenId() >= 0) {
            n.put("pad_token_id", c.padTokenId());
        }
        return n;
    }

    /**
     * tokenizer_config.json for a fast tokenizer: {@code tokenizer.json} already holds the
     * vocabulary, the BOS post-processor and the decoder; this names the special tokens and turns
     * off the decode-time clean-up of spaces before punctuation, which the GGUF tokenizer never does.
     */
    static ObjectNode tokenizerConfig(LlamaConfig c, ObjectNode tokenizer) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("tokenizer_class", "PreTrainedTokenizerFast");
        putToken(n, "bos_token", tokenizer, c.bosTokenId());
        putToken(n, "eos_token", tokenizer, c.eosTokenId());
        putToken(n, "pad_token", tokenizer, c.padTokenId());
        n.put("model_max_length", c.contextLength());
        n.put("clean_up_tokenization_spaces", false);
        return n;
    }

    /** Puts the added token {@code id}'s content under {@code key}; nothing when the id is negative or not an added token. */
    private static void putToken(ObjectNode config, String key, ObjectNode tokenizer, long id) {
        for (com.fasterxml.jackson.databind.JsonNode added : tokenizer.path("added_tokens")) {
            if (id >= 0 && added.path("id").asLong() == id) {
                config.put(key, added.path("content").asText());
                return;
            }
        }
    }

    private static byte[] json(ObjectNode node) throws IOException {
        return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(node);
    }
}
