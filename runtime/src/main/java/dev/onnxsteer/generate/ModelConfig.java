package dev.onnxsteer.generate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.BadModelException;
import java.io.IOException;
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
 */
public record ModelConfig(
        OptionalInt vocabSize, OptionalInt maxPositions, OptionalLong bosTokenId, List<Long> eosTokenIds,
        OptionalLong padTokenId, String source) {

    public static final ModelConfig EMPTY = new ModelConfig(
            OptionalInt.empty(), OptionalInt.empty(), OptionalLong.empty(), List.of(), OptionalLong.empty(), "none");

    public ModelConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    /** Reads {@code config.json}, else {@code genai_config.json}, from a model directory; {@link #EMPTY} when neither exists. */
    public static ModelConfig load(Path modelDir) {
        Path config = modelDir.resolve("config.json");
        if (Files.isRegularFile(config)) {
            return parse(config, readJson(config));
        }
        Path genai = modelDir.resolve("genai_config.json");
        if (Files.isRegularFile(genai)) {
            JsonNode root = readJson(genai);
            return parse(genai, root.has("model") ? root.get("model") : root);
        }
        return EMPTY;
    }

    private static JsonNode readJson(Path file) {
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new BadModelException("cannot read " + file + " as JSON: " + e.getMessage(), e);
        }
    }

    private static ModelConfig parse(Path file, JsonNode node) {
        OptionalInt max = firstInt(node, "max_position_embeddings", "n_positions", "context_length",
                "max_sequence_length", "n_ctx");
        return new ModelConfig(firstInt(node, "vocab_size"), max, optionalLong(node.get("bos_token_id")),
                longList(node.get("eos_token_id")), optionalLong(node.get("pad_token_id")), file.toString());
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

    private static OptionalLong optionalLong(JsonNode value) {
        if (value != null && value.isIntegralNumber()) {
            return OptionalLong.of(value.asLong());
        }
        if (value != null && value.isArray() && value.size() > 0 && value.get(0).isIntegralNumber()) {
            return OptionalLong.of(value.get(0).asLong());
        }
        return OptionalLong.empty();
    }

    private static List<Long> longList(JsonNode value) {
        List<Long> ids = new ArrayList<>();
        if (value != null && value.isIntegralNumber()) {
            ids.add(value.asLong());
        } else if (value != null && value.isArray()) {
            for (JsonNode item : value) {
                if (item.isIntegralNumber()) {
                    ids.add(item.asLong());
                }
            }
        }
        return ids;
    }
}
