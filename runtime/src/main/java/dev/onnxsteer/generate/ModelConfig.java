package dev.onnxsteer.generate;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.BadInputException;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.io.JsonFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * The generation-relevant facts of a model directory's {@code config.json} (Hugging Face
 * style), or, when that is absent, of {@code genai_config.json} (onnxruntime-genai style,
 * the {@code model} object). Every field is optional.
 *
 * @param vocabSize    {@code vocab_size}
 * @param maxPositions the context length: {@code max_position_embeddings}, {@code n_positions}
 *                     or {@code context_length}
 * @param bosTokenId   {@code bos_token_id}
 * @param eosTokenIds  {@code eos_token_id} (an int or a list of ints); empty when absent
 * @param padTokenId   {@code pad_token_id}
 * @param source       the file these came from, or {@code "none"}
 * @param decoder      the decoder's input and output names: from {@code genai_config.json} when the directory
 *                     has one (whichever file the other facts came from), else {@link DecoderNames#OPTIMUM}
 */
public record ModelConfig(
        OptionalInt vocabSize, OptionalInt maxPositions, OptionalLong bosTokenId, List<Long> eosTokenIds,
        OptionalLong padTokenId, String source, DecoderNames decoder) {

    public static final ModelConfig EMPTY = new ModelConfig(
            OptionalInt.empty(), OptionalInt.empty(), OptionalLong.empty(), List.of(), OptionalLong.empty(), "none");

    public ModelConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
        decoder = decoder == null ? DecoderNames.OPTIMUM : decoder;
    }

    /** A config with the {@link DecoderNames#OPTIMUM} names. */
    public ModelConfig(OptionalInt vocabSize, OptionalInt maxPositions, OptionalLong bosTokenId, List<Long> eosTokenIds,
            OptionalLong padTokenId, String source) {
        this(vocabSize, maxPositions, bosTokenId, eosTokenIds, padTokenId, source, DecoderNames.OPTIMUM);
    }

    /**
     * Reads {@code config.json}, else {@code genai_config.json}, from a model directory; {@link #EMPTY} when neither
     * exists. The decoder names come from {@code genai_config.json} whenever it exists.
     */
    public static ModelConfig load(Path modelDir) {
        Path config = modelDir.resolve("config.json");
        Path genai = modelDir.resolve("genai_config.json");
        JsonNode genaiModel = null;
        if (Files.isRegularFile(genai)) {
            JsonNode root = readJson(genai);
            genaiModel = root.has("model") ? root.get("model") : root;
        }
        DecoderNames names = genaiModel == null ? DecoderNames.OPTIMUM : DecoderNames.fromGenai(genai, genaiModel);
        if (Files.isRegularFile(config)) {
            return parse(config, readJson(config)).withDecoder(names);
        }
        if (genaiModel != null) {
            return parse(genai, genaiModel).withDecoder(names);
        }
        return EMPTY;
    }

    private ModelConfig withDecoder(DecoderNames names) {
        return new ModelConfig(vocabSize, maxPositions, bosTokenId, eosTokenIds, padTokenId, source, names);
    }

    private static JsonNode readJson(Path file) {
        try {
            return JsonFiles.read(file);
        } catch (BadInputException e) {
            throw new BadModelException(e.getMessage(), e);
        }
    }

    /** Sizes that, when a config states them, must be positive integers; a negative or fractional one is corruption. */
    private static final List<String> SIZES = List.of("vocab_size", "hidden_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "intermediate_size", "head_dim", "n_embd", "n_layer", "n_head",
            "n_inner", "max_position_embeddings", "n_positions", "context_length", "max_sequence_length", "n_ctx");
    /** Epsilons and bases that, when stated, must be positive finite numbers. */
    private static final List<String> POSITIVE_REALS = List.of("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon",
            "rope_theta");

    private static ModelConfig parse(Path file, JsonNode node) {
        if (!node.isObject()) {
            throw new BadModelException(FileProblem.message(file, "not a JSON object", "an object of settings",
                    node.getNodeType()));
        }
        for (String key : SIZES) {
            JsonNode value = node.get(key);
            if (value != null && !value.isNull() && !(value.canConvertToInt() && value.isIntegralNumber() && value.intValue() > 0)) {
                throw bad(file, key, "a positive integer", value);
            }
        }
        for (String key : POSITIVE_REALS) {
            JsonNode value = node.get(key);
            if (value != null && !value.isNull() && !(value.isNumber() && value.doubleValue() > 0
                    && Double.isFinite(value.doubleValue()))) {
                throw bad(file, key, "a positive finite number", value);
            }
        }
        OptionalInt vocab = firstInt(node, "vocab_size");
        OptionalInt max = firstInt(node, "max_position_embeddings", "n_positions", "context_length",
                "max_sequence_length", "n_ctx");
        OptionalLong bos = tokenId(file, node, "bos_token_id", vocab);
        List<Long> eos = new ArrayList<>();
        JsonNode eosNode = node.get("eos_token_id");
        if (eosNode != null && eosNode.isArray()) {
            for (JsonNode item : eosNode) {
                eos.add(tokenId(file, "eos_token_id", item, vocab));
            }
        } else if (eosNode != null && !eosNode.isNull()) {
            eos.add(tokenId(file, "eos_token_id", eosNode, vocab));
        }
        return new ModelConfig(vocab, max, bos, eos, tokenId(file, node, "pad_token_id", vocab), file.toString());
    }

    private static OptionalLong tokenId(Path file, JsonNode node, String key, OptionalInt vocab) {
        JsonNode value = node.get(key);
        if (value == null || value.isNull()) {
            return OptionalLong.empty();
        }
        if (value.isArray() && value.size() > 0) {
            return OptionalLong.of(tokenId(file, key, value.get(0), vocab)); // some configs list several; the first leads
        }
        return OptionalLong.of(tokenId(file, key, value, vocab));
    }

    /** A token id the model can embed: a non-negative integer below {@code vocab_size} when that is known. */
    private static long tokenId(Path file, String key, JsonNode value, OptionalInt vocab) {
        long limit = vocab.isPresent() ? vocab.getAsInt() : Integer.MAX_VALUE;
        if (!value.isIntegralNumber() || !value.canConvertToLong() || value.longValue() < 0 || value.longValue() >= limit) {
            throw bad(file, key, vocab.isPresent() ? "a token id from 0 to " + (limit - 1) + " (vocab_size " + limit + ")"
                    : "a non-negative integer token id", value);
        }
        return value.longValue();
    }

    private static BadModelException bad(Path file, String key, String expected, JsonNode found) {
        return new BadModelException(FileProblem.message(file, "\"" + key + "\" is out of range or of the wrong type",
                expected, found.isNumber() ? found.asText() : found.toString()));
    }

    private static OptionalInt firstInt(JsonNode node, String... keys) {
        for (String key : keys) {
            JsonNode value = node.get(key);
            if (value != null && value.canConvertToInt()) {
                return OptionalInt.of(value.asInt());
            }
        }
        return OptionalInt.empty();
    }
}
