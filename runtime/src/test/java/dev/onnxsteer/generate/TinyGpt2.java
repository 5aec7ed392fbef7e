package dev.onnxsteer.generate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.TestPaths;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * The shared fused GPT-2 test model ({@code ../shared/models/tiny-random-gpt2-fused}) and a
 * tokenizer that fits it: its GPT-2 {@code tokenizer.json} has 50295 tokens but the model only
 * 1000, so tests that need text write a copy cut down to ids below 1000 (the byte alphabet and
 * the first merges, which is still a valid byte-level BPE that can encode any text).
 */
public final class TinyGpt2 {
    public static final int VOCAB = 1000;

    private TinyGpt2() {}

    /** The shared model directory (skips the test when ../shared is absent). */
    public static Path dir() {
        return TestPaths.sharedModel("tiny-random-gpt2-fused");
    }

    /** The shared {@code past.onnx}. */
    public static Path model() {
        return TestPaths.sharedModel("tiny-random-gpt2-fused/past.onnx");
    }

    /** Writes {@code tokenizer.json} cut to ids below {@link #VOCAB} into {@code dir} and returns its path. */
    public static Path writeTrimmedTokenizer(Path dir) {
        try {
            ObjectMapper json = new ObjectMapper();
            ObjectNode root = (ObjectNode) json.readTree(dir().resolve("tokenizer.json").toFile());
            ObjectNode model = (ObjectNode) root.get("model");
            ObjectNode vocab = json.createObjectNode();
            Set<String> kept = new HashSet<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = model.get("vocab").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> entry = it.next();
                if (entry.getValue().asInt() < VOCAB) {
                    vocab.set(entry.getKey(), entry.getValue());
                    kept.add(entry.getKey());
                }
            }
            ArrayNode merges = json.createArrayNode();
            for (JsonNode merge : model.get("merges")) {
                String[] parts = merge.isArray()
                        ? new String[] {merge.get(0).asText(), merge.get(1).asText()}
                        : merge.asText().split(" ", 2);
                if (kept.contains(parts[0]) && kept.contains(parts[1]) && kept.contains(parts[0] + parts[1])) {
                    merges.add(merge);
                }
            }
            model.set("vocab", vocab);
            model.set("merges", merges);
            ArrayNode added = json.createArrayNode();
            for (JsonNode token : root.get("added_tokens")) {
                if (token.get("id").asInt() < VOCAB) {
                    added.add(token);
                }
            }
            root.set("added_tokens", added);
            Files.createDirectories(dir);
            Path file = dir.resolve("tokenizer.json");
            json.writeValue(file.toFile(), root);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
