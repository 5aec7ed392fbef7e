package dev.onnxsteer.generate;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.BadInputException;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.io.JsonFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A Hugging Face {@code tokenizer.json} loaded offline through DJL, with the model's BOS/EOS ids.
 * BOS/EOS come from the model config ({@code bos_token_id}, {@code eos_token_id}) when present,
 * else from {@code tokenizer_config.json} next to the tokenizer, else from well-known special
 * token names. Closing it frees the native tokenizer.
 */
public final class Tokenizer implements AutoCloseable {
    private static final List<String> BOS_NAMES = List.of("<s>", "<|begin_of_text|>", "<|endoftext|>", "<bos>", "[CLS]");
    private static final List<String> EOS_NAMES =
            List.of("</s>", "<|end_of_text|>", "<|eot_id|>", "<|endoftext|>", "<|im_end|>", "<eos>", "[SEP]");

    private final HuggingFaceTokenizer hf;
    private final Path file;
    private final int vocabSize;
    private final Map<String, Long> specialTokens;
    private final OptionalLong bosTokenId;
    private final List<Long> eosTokenIds;
    private final ByteFallback byteFallback;

    private Tokenizer(HuggingFaceTokenizer hf, Path file, int vocabSize, Map<String, Long> specialTokens,
            OptionalLong bosTokenId, List<Long> eosTokenIds, ByteFallback byteFallback) {
        this.hf = hf;
        this.byteFallback = byteFallback;
        this.file = file;
        this.vocabSize = vocabSize;
        this.specialTokens = specialTokens;
        this.bosTokenId = bosTokenId;
        this.eosTokenIds = eosTokenIds;
    }

    /** Loads {@code tokenizer.json} from a model directory, or the given tokenizer file, with no model config. */
    public static Tokenizer load(Path dirOrFile) {
        return load(dirOrFile, ModelConfig.EMPTY);
    }

    /**
     * Loads {@code tokenizer.json} from a model directory or the given file, taking BOS/EOS ids
     * from {@code config} when it has them.
     */
    public static Tokenizer load(Path dirOrFile, ModelConfig config) {
        Path file = Files.isDirectory(dirOrFile) ? dirOrFile.resolve("tokenizer.json") : dirOrFile;
        if (!Files.isRegularFile(file)) {
            throw new BadModelException("tokenizer file " + file + " does not exist");
        }
        JsonNode json;
        try {
            json = JsonFiles.read(file);
        } catch (BadInputException e) {
            throw new BadModelException(e.getMessage(), e);
        }
        int vocab = vocabSize(json, file);
        Map<String, Long> special = specialTokens(json);
        Map<String, Long> allAdded = addedTokens(json);
        JsonNode tokenizerConfig = readOptional(file.resolveSibling("tokenizer_config.json"));

        OptionalLong bos = config.bosTokenId();
        if (bos.isEmpty()) {
            bos = named(tokenizerConfig, "bos_token", allAdded, json);
        }
        if (bos.isEmpty()) {
            bos = firstKnown(BOS_NAMES, special);
        }
        List<Long> eos = config.eosTokenIds();
        if (eos.isEmpty()) {
            OptionalLong found = named(tokenizerConfig, "eos_token", allAdded, json);
            if (found.isEmpty()) {
                found = firstKnown(EOS_NAMES, special);
            }
            eos = found.isPresent() ? List.of(found.getAsLong()) : List.of();
        }
        HuggingFaceTokenizer hf;
        try {
            // DJL truncates to 512 tokens unless told otherwise; generation measures length itself.
            hf = HuggingFaceTokenizer.newInstance(file, Map.of("truncation", "false", "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw new BadModelException("cannot load tokenizer " + file + ": " + e.getMessage(), e);
        }
        return new Tokenizer(hf, file, vocab, Collections.unmodifiableMap(special), bos, List.copyOf(eos),
                ByteFallback.of(json));
    }

    /** The tokenizer file this was loaded from. */
    public Path file() {
        return file;
    }

    /** One more than the largest token id the tokenizer can produce (model vocabulary and added tokens). */
    public int vocabSize() {
        return vocabSize;
    }

    public OptionalLong bosTokenId() {
        return bosTokenId;
    }

    /** Every id that ends generation; empty when the model and tokenizer name none. */
    public List<Long> eosTokenIds() {
        return eosTokenIds;
    }

    /** Special added tokens by content, e.g. {@code <|endoftext|> -> 50256}. */
    public Map<String, Long> specialTokens() {
        return specialTokens;
    }

    /** Token ids of {@code text}; {@code addSpecialTokens} applies the tokenizer's post-processor (e.g. a BOS). */
    public long[] encode(String text, boolean addSpecialTokens) {
        return hf.encode(text, addSpecialTokens, false).getIds();
    }

    /** Text of {@code ids}; {@code skipSpecialTokens} drops special tokens such as BOS/EOS. */
    public String decode(long[] ids, boolean skipSpecialTokens) {
        return hf.decode(ids, skipSpecialTokens);
    }

    /** The {@code <0xNN>} tokens of this tokenizer's byte-fallback decoder; {@link ByteFallback#NONE} without one. */
    ByteFallback byteFallback() {
        return byteFallback;
    }

    /** A decoder that turns generated ids into text pieces one token at a time; see {@link StreamDecoder}. */
    public StreamDecoder streamDecoder(long[] promptIds) {
        return new StreamDecoder(this, promptIds);
    }

    @Override
    public void close() {
        hf.close();
    }

    /**
     * One more than the largest id, every id checked: a non-negative integer whose successor still fits an
     * int, so that a corrupted id (2^31, or a string) is refused here instead of wrapping the vocabulary size
     * negative and slipping past the comparison with the model's vocabulary.
     */
    private static int vocabSize(JsonNode json, Path file) {
        if (!json.isObject()) {
            throw new BadModelException(FileProblem.message(file, "not a tokenizer", "a JSON object", json.getNodeType()));
        }
        long max = -1;
        JsonNode vocab = json.path("model").path("vocab");
        if (vocab.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                max = Math.max(max, checkedId(file, "model.vocab entry " + FileProblem.printable(e.getKey()), e.getValue()));
            }
        } else if (vocab.isArray()) {
            max = vocab.size() - 1L; // Unigram: [[piece, score], ...] in id order
        }
        for (JsonNode added : json.path("added_tokens")) {
            max = Math.max(max, checkedId(file, "added token " + FileProblem.printable(added.path("content").asText()),
                    added.path("id")));
        }
        return (int) (max + 1);
    }

    private static long checkedId(Path file, String what, JsonNode id) {
        if (!id.isIntegralNumber() || !id.canConvertToInt() || id.intValue() < 0 || id.intValue() == Integer.MAX_VALUE) {
            throw new BadModelException(FileProblem.message(file, what + " has an impossible token id",
                    "an integer from 0 to " + (Integer.MAX_VALUE - 1), id));
        }
        return id.intValue();
    }

    private static Map<String, Long> addedTokens(JsonNode json) {
        Map<String, Long> tokens = new LinkedHashMap<>();
        for (JsonNode added : json.path("added_tokens")) {
            tokens.put(added.path("content").asText(), added.path("id").asLong());
        }
        return tokens;
    }

    private static Map<String, Long> specialTokens(JsonNode json) {
        Map<String, Long> tokens = new LinkedHashMap<>();
        for (JsonNode added : json.path("added_tokens")) {
            if (added.path("special").asBoolean(false)) {
                tokens.put(added.path("content").asText(), added.path("id").asLong());
            }
        }
        return tokens;
    }

    private static JsonNode readOptional(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        // a broken file is refused rather than skipped: its BOS/EOS tokens decide where generation stops
        try {
            return JsonFiles.read(file);
        } catch (BadInputException e) {
            throw new BadModelException(e.getMessage(), e);
        }
    }

    /** The id of {@code tokenizer_config.json}'s {@code key} token (a string or {"content": ...}). */
    private static OptionalLong named(JsonNode tokenizerConfig, String key, Map<String, Long> added, JsonNode json) {
        if (tokenizerConfig == null) {
            return OptionalLong.empty();
        }
        JsonNode value = tokenizerConfig.get(key);
        String content = value == null ? null : value.isTextual() ? value.asText() : value.path("content").asText(null);
        if (content == null) {
            return OptionalLong.empty();
        }
        Long id = added.get(content);
        if (id == null) {
            JsonNode vocabId = json.path("model").path("vocab").get(content);
            id = vocabId != null && vocabId.isIntegralNumber() ? vocabId.asLong() : null;
        }
        return id == null ? OptionalLong.empty() : OptionalLong.of(id);
    }

    private static OptionalLong firstKnown(List<String> names, Map<String, Long> special) {
        Optional<Long> id = names.stream().filter(special::containsKey).map(special::get).findFirst();
        return id.isPresent() ? OptionalLong.of(id.get()) : OptionalLong.empty();
    }

    static long[] concat(long[] a, List<Long> b) {
        long[] all = new long[a.length + b.size()];
        System.arraycopy(a, 0, all, 0, a.length);
        for (int i = 0; i < b.size(); i++) {
            all[a.length + i] = b.get(i);
        }
        return all;
    }

    static List<Long> boxed(long[] ids) {
        List<Long> list = new ArrayList<>(ids.length);
        for (long id : ids) {
            list.add(id);
        }
        return list;
    }
}
