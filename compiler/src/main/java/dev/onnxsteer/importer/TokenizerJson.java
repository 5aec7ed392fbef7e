package dev.onnxsteer.importer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgufMetadata;
import dev.onnxsteer.io.FileProblem;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a Hugging Face {@code tokenizer.json} from a GGUF's {@code tokenizer.ggml.*} metadata.
 *
 * <ul>
 *   <li>{@code tokenizer.ggml.model = llama} (SentencePiece BPE): as HF's {@code LlamaConverter} makes it
 *       from a SentencePiece model: a BPE model with {@code byte_fallback} and {@code fuse_unk}, the
 *       vocabulary in id order, and merges derived from the scores the way {@code SentencePieceExtractor}
 *       does (for each piece, every split into two pieces that are both in the vocabulary, ordered by the
 *       ids of the halves; then all of them stably by the merged piece's score, highest first); normalizer
 *       Prepend("▁") + Replace(" ", "▁"); decoder Replace("▁", " "), ByteFallback, Fuse, Strip one leading
 *       space; TemplateProcessing adding BOS (and EOS when {@code tokenizer.ggml.add_eos_token}).</li>
 *   <li>{@code tokenizer.ggml.model = gpt2} (byte-level BPE): vocabulary and {@code tokenizer.ggml.merges}
 *       as they are; the pre-tokenizer regexes {@code tokenizer.ggml.pre} names (see {@link PreTokenizer}) as
 *       {@code Split} steps before a regex-free ByteLevel; ByteLevel decoder.</li>
 * </ul>
 * Control, unknown and user-defined tokens ({@code tokenizer.ggml.token_type} 3, 2, 4) become
 * {@code added_tokens} so that they are matched whole and skipped when decoding special tokens.
 */
final class TokenizerJson {
    static final int TYPE_NORMAL = 1;
    static final int TYPE_UNKNOWN = 2;
    static final int TYPE_CONTROL = 3;
    static final int TYPE_USER_DEFINED = 4;
    static final int TYPE_UNUSED = 5;
    static final int TYPE_BYTE = 6;
    static final String SPACE = "\u2581";
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private TokenizerJson() {}

    static ObjectNode build(GgufMetadata md, String file) {
        String model = md.getString("tokenizer.ggml.model");
        return switch (model) {
            case "llama" -> sentencePiece(md);
            case "gpt2" -> byteLevel(md);
            default -> throw new BadModelException(FileProblem.message(file, "has an unsupported tokenizer",
                    "tokenizer.ggml.model one of llama, gpt2", model));
        };
    }

    private static ObjectNode sentencePiece(GgufMetadata md) {
        List<String> tokens = md.getStringArray("tokenizer.ggml.tokens");
        float[] scores = md.getFloatArray("tokenizer.ggml.scores");
        int[] types = tokenTypes(md, tokens.size());
        int unk = (int) md.findLong("tokenizer.ggml.unknown_token_id").orElse(0);

        ObjectNode root = header();
        root.set("added_tokens", addedTokens(tokens, types));
        ArrayNode normalizers = F.arrayNode();
        if (md.findBool("tokenizer.ggml.add_space_prefix").orElse(true)) {
            normalizers.add(F.objectNode().put("type", "Prepend").put("prepend", SPACE));
        }
        normalizers.add(replace(" ", SPACE));
        root.set("normalizer", F.objectNode().put("type", "Sequence").set("normalizers", normalizers));
        root.putNull("pre_tokenizer");
        root.set("post_processor", template(md, tokens));
        ArrayNode decoders = F.arrayNode();
        decoders.add(replace(SPACE, " "));
        decoders.add(F.objectNode().put("type", "ByteFallback"));
        decoders.add(F.objectNode().put("type", "Fuse"));
        if (md.findBool("tokenizer.ggml.add_space_prefix").orElse(true)) {
            decoders.add(F.objectNode().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0));
        }
        root.set("decoder", F.objectNode().put("type", "Sequence").set("decoders", decoders));

        ObjectNode bpe = F.objectNode();
        bpe.put("type", "BPE");
        bpe.putNull("dropout");
        bpe.put("unk_token", tokens.get(unk));
        bpe.putNull("continuing_subword_prefix");
        bpe.putNull("end_of_word_suffix");
        bpe.put("fuse_unk", true);
        bpe.put("byte_fallback", true);
        bpe.put("ignore_merges", false);
        bpe.set("vocab", vocab(tokens));
        ArrayNode merges = F.arrayNode();
        for (String[] merge : sentencePieceMerges(tokens, scores)) {
            merges.add(F.arrayNode().add(merge[0]).add(merge[1]));
        }
        bpe.set("merges", merges);
        root.set("model", bpe);
        return root;
    }

    /**
     * Merges as HF's SentencePieceExtractor derives them from a vocabulary with scores: for each piece (in
     * id order), every split {@code (left, right)} at a code point boundary with both halves in the
     * vocabulary, sorted by (id of left, id of right); then all merges stably by the piece's score, descending.
     */
    static List<String[]> sentencePieceMerges(List<String> tokens, float[] scores) {
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) {
            ids.putIfAbsent(tokens.get(i), i);
        }
        record Merge(String left, String right, int leftId, int rightId, float score) {}
        List<Merge> all = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            String piece = tokens.get(i);
            if (ids.get(piece) != i) {
                continue; // a duplicate piece: HF's dict keeps one entry
            }
            List<Merge> local = new ArrayList<>();
            for (int cut = piece.isEmpty() ? 0 : piece.offsetByCodePoints(0, 1); cut < piece.length();
                    cut = piece.offsetByCodePoints(cut, 1)) {
                String left = piece.substring(0, cut);
                String right = piece.substring(cut);
                Integer l = ids.get(left);
                Integer r = ids.get(right);
                if (l != null && r != null) {
                    local.add(new Merge(left, right, l, r, scores[i]));
                }
            }
            local.sort(Comparator.comparingInt(Merge::leftId).thenComparingInt(Merge::rightId));
            all.addAll(local);
        }
        all.sort(Comparator.comparingDouble((Merge m) -> m.score).reversed()); // List.sort is stable
        List<String[]> out = new ArrayList<>(all.size());
        for (Merge m : all) {
            out.add(new String[] {m.left, m.right});
        }
        return out;
    }

    private static ObjectNode byteLevel(GgufMetadata md) {
        List<String> tokens = md.getStringArray("tokenizer.ggml.tokens");
        int[] types = tokenTypes(md, tokens.size());
        List<String> merges = md.getStringArray("tokenizer.ggml.merges");
        PreTokenizer pre = PreTokenizer.of(md);

        ObjectNode root = header();
        root.set("added_tokens", addedTokens(tokens, types));
        root.putNull("normalizer");
        if (pre.regexes().isEmpty()) {
            root.set("pre_tokenizer", byteLevelNode(true)); // ByteLevel's own regex is GPT-2's
        } else {
            ArrayNode seq = F.arrayNode();
            for (String regex : pre.regexes()) {
                seq.add(F.objectNode().put("type", "Split").<ObjectNode>set("pattern", F.objectNode().put("Regex", regex))
                        .put("behavior", "Isolated").put("invert", false));
            }
            seq.add(byteLevelNode(false));
            root.set("pre_tokenizer", F.objectNode().put("type", "Sequence").set("pretokenizers", seq));
        }
        if (addBos(md) || md.findBool("tokenizer.ggml.add_eos_token").orElse(false)) {
            root.set("post_processor", template(md, tokens));
        } else {
            root.set("post_processor", byteLevelNode(false));
        }
        root.set("decoder", byteLevelNode(true));
        ObjectNode bpe = F.objectNode();
        bpe.put("type", "BPE");
        bpe.putNull("dropout");
        bpe.putNull("unk_token");
        bpe.putNull("continuing_subword_prefix");
        bpe.putNull("end_of_word_suffix");
        bpe.put("fuse_unk", false);
        bpe.put("byte_fallback", false);
        bpe.put("ignore_merges", pre.ignoreMerges());
        bpe.set("vocab", vocab(tokens));
        ArrayNode mergeArray = F.arrayNode();
        for (String merge : merges) {
            int space = merge.indexOf(' ', 1);
            if (space < 0) {
                throw new BadModelException(FileProblem.message(md.source(), "has a tokenizer.ggml.merges entry without a space",
                        "\"left right\"", "\"" + merge + "\""));
            }
            mergeArray.add(F.arrayNode().add(merge.substring(0, space)).add(merge.substring(space + 1)));
        }
        bpe.set("merges", mergeArray);
        root.set("model", bpe);
        return root;
    }

    /**
     * Whether BOS is added to each sequence: {@code tokenizer.ggml.add_bos_token}, or where the file does not
     * say, llama.cpp's default for the vocabulary: yes for SentencePiece and for Llama 3's byte-level
     * pre-tokenizer, no for the other byte-level ones.
     */
    static boolean addBos(GgufMetadata md) {
        boolean byDefault = md.getString("tokenizer.ggml.model").equals("llama") || PreTokenizer.of(md).addsBos();
        return md.findBool("tokenizer.ggml.add_bos_token").orElse(byDefault);
    }

    private static ObjectNode byteLevelNode(boolean useRegex) {
        return F.objectNode().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
                .put("use_regex", useRegex);
    }

    private static ObjectNode header() {
        ObjectNode root = F.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        return root;
    }

    private static int[] tokenTypes(GgufMetadata md, int count) {
        if (!md.contains("tokenizer.ggml.token_type")) {
            int[] types = new int[count];
            java.util.Arrays.fill(types, TYPE_NORMAL);
            return types;
        }
        int[] types = md.getIntArray("tokenizer.ggml.token_type");
        if (types.length != count) {
            throw new BadModelException(FileProblem.message(md.source(), "has a tokenizer.ggml.token_type of the wrong length",
                    count + " entries, one per tokenizer.ggml.tokens entry", types.length));
        }
        return types;
    }

    private static ObjectNode vocab(List<String> tokens) {
        ObjectNode vocab = F.objectNode();
        for (int i = 0; i < tokens.size(); i++) {
            if (!vocab.has(tokens.get(i))) {
                vocab.put(tokens.get(i), i);
            }
        }
        return vocab;
    }

    private static ArrayNode addedTokens(List<String> tokens, int[] types) {
        ArrayNode added = F.arrayNode();
        for (int i = 0; i < tokens.size(); i++) {
            int type = types[i];
            if (type != TYPE_CONTROL && type != TYPE_UNKNOWN && type != TYPE_USER_DEFINED) {
                continue;
            }
            ObjectNode t = F.objectNode();
            t.put("id", i);
            t.put("content", tokens.get(i));
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", type != TYPE_USER_DEFINED);
            added.add(t);
        }
        return added;
    }

    /** BOS (and EOS) around each sequence as {@link #addBos} and the GGUF say, as HF's LlamaTokenizerFast sets up its TemplateProcessing. */
    private static ObjectNode template(GgufMetadata md, List<String> tokens) {
        boolean addBos = addBos(md);
        boolean addEos = md.findBool("tokenizer.ggml.add_eos_token").orElse(false);
        int bos = (int) md.findLong("tokenizer.ggml.bos_token_id").orElse(1);
        int eos = (int) md.findLong("tokenizer.ggml.eos_token_id").orElse(2);
        ArrayNode single = F.arrayNode();
        ArrayNode pair = F.arrayNode();
        for (int typeId = 0; typeId < 2; typeId++) {
            ArrayNode part = F.arrayNode();
            if (addBos) {
                part.add(specialToken(tokens.get(bos), typeId));
            }
            part.add(F.objectNode().set("Sequence", F.objectNode().put("id", typeId == 0 ? "A" : "B").put("type_id", typeId)));
            if (addEos) {
                part.add(specialToken(tokens.get(eos), typeId));
            }
            if (typeId == 0) {
                single.addAll(part.deepCopy());
            }
            pair.addAll(part);
        }
        ObjectNode special = F.objectNode();
        if (addBos) {
            special.set(tokens.get(bos), specialEntry(tokens.get(bos), bos));
        }
        if (addEos) {
            special.set(tokens.get(eos), specialEntry(tokens.get(eos), eos));
        }
        ObjectNode node = F.objectNode();
        node.put("type", "TemplateProcessing");
        node.set("single", single);
        node.set("pair", pair);
        node.set("special_tokens", special);
        return node;
    }

    private static ObjectNode specialToken(String token, int typeId) {
        ObjectNode node = F.objectNode();
        node.set("SpecialToken", F.objectNode().put("id", token).put("type_id", typeId));
        return node;
    }

    private static ObjectNode specialEntry(String token, int id) {
        ObjectNode node = F.objectNode();
        node.put("id", token);
        node.set("ids", F.arrayNode().add(id));
        node.set("tokens", F.arrayNode().add(token));
        return node;
    }

    private static ObjectNode replace(String pattern, String content) {
        ObjectNode node = F.objectNode();
        node.put("type", "Replace");
        node.set("pattern", F.objectNode().put("String", pattern));
        node.put("content", content);
        return node;
    }

    static byte[] toBytes(ObjectNode node) {
        try {
            return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(node);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
