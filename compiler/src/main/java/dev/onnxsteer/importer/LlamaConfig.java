package dev.onnxsteer.importer;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufMetadata;
import dev.onnxsteer.gguf.GgufTensorInfo;
import dev.onnxsteer.io.FileProblem;
import java.util.List;
import java.util.OptionalLong;

/**
 * The hyperparameters of a llama GGUF, read from its {@code llama.*} and {@code tokenizer.ggml.*} keys.
 *
 * @param vocabSize rows of {@code token_embd.weight}
 * @param ropeTheta {@code llama.rope.freq_base}, 10000 when absent
 * @param ropeLinearFactor {@code llama.rope.scaling.factor} when the scaling type is linear, else 1
 * @param tiedEmbeddings true when the file has no {@code output.weight}, so the LM head reuses the embedding
 * @param padTokenId -1 when the file names none
 */
public record LlamaConfig(
        String name,
        int hiddenSize,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int intermediateSize,
        int vocabSize,
        float rmsNormEps,
        float ropeTheta,
        float ropeLinearFactor,
        int contextLength,
        int bosTokenId,
        int eosTokenId,
        int padTokenId,
        boolean tiedEmbeddings) {

    public static final String ARCHITECTURE = "llama";
    public static final List<String> SUPPORTED_ARCHITECTURES = List.of(ARCHITECTURE);

    /** Reads the config; refuses architectures other than llama and settings the importer cannot reproduce. */
    public static LlamaConfig from(GgufFile gguf) {
        GgufMetadata md = gguf.metadata();
        String file = gguf.path().toString();
        String arch = md.getString("general.architecture");
        if (!SUPPORTED_ARCHITECTURES.contains(arch)) {
            throw new BadModelException(file + " has general.architecture " + arch + "; supported: "
                    + String.join(", ", SUPPORTED_ARCHITECTURES));
        }
        int hidden = md.getInt("llama.embedding_length");
        int layers = md.getInt("llama.block_count");
        int heads = md.getInt("llama.attention.head_count");
        int kvHeads = md.findLong("llama.attention.head_count_kv").isPresent() ? md.getInt("llama.attention.head_count_kv") : heads;
        int ffn = md.getInt("llama.feed_forward_length");
        float eps = (float) md.getDouble("llama.attention.layer_norm_rms_epsilon");
        float theta = (float) md.findDouble("llama.rope.freq_base").orElse(10000.0);
        int context = md.getInt("llama.context_length");
        if (hidden <= 0 || heads <= 0 || kvHeads <= 0 || layers <= 0 || hidden % heads != 0 || heads % kvHeads != 0) {
            throw new BadModelException(file + " has embedding_length " + hidden + ", head_count " + heads
                    + ", head_count_kv " + kvHeads + "; expected head_count to divide embedding_length and head_count_kv to divide head_count");
        }
        int headDim = hidden / heads;
        OptionalLong keyLength = md.findLong("llama.attention.key_length");
        if (keyLength.isPresent() && keyLength.getAsLong() != headDim) {
            throw new BadModelException(file + " has llama.attention.key_length " + keyLength.getAsLong()
                    + "; the importer supports only head size embedding_length / head_count = " + headDim);
        }
        OptionalLong ropeDims = md.findLong("llama.rope.dimension_count");
        if (ropeDims.isPresent() && ropeDims.getAsLong() != headDim) {
            throw new BadModelException(file + " has llama.rope.dimension_count " + ropeDims.getAsLong()
                    + "; the importer supports only rotary embedding over the whole head (" + headDim + ")");
        }
        if (headDim % 2 != 0) {
            throw new BadModelException(file + " has head size " + headDim + "; rotary embedding needs an even head size");
        }
        float linear = 1f;
        String scaling = md.findString("llama.rope.scaling.type").orElse("none");
        if (scaling.equals("linear")) {
            linear = (float) md.getDouble("llama.rope.scaling.factor");
        } else if (!scaling.equals("none")) {
            throw new BadModelException(file + " has llama.rope.scaling.type " + scaling + "; supported: none, linear");
        }
        if (md.contains("llama.rope.scale_linear")) {
            linear = (float) md.getDouble("llama.rope.scale_linear");
        }
        if (md.contains("llama.expert_count") && md.getLong("llama.expert_count") > 0) {
            throw new BadModelException(file + " is a mixture-of-experts llama (llama.expert_count "
                    + md.getLong("llama.expert_count") + "); the importer supports dense llama models only");
        }
        GgufTensorInfo embd = gguf.tensor("token_embd.weight");
        long[] dims = embd.dims();
        if (dims.length != 2 || dims[0] != hidden) {
            throw new BadModelException("tensor token_embd.weight in " + file + " has shape "
                    + java.util.Arrays.toString(embd.shape()) + "; expected [vocab, " + hidden + "]");
        }
        if (dims[1] <= 0 || dims[1] > Integer.MAX_VALUE) {
            throw new BadModelException(FileProblem.message(file, "tensor token_embd.weight has no usable vocabulary size",
                    "1 to " + Integer.MAX_VALUE + " rows", dims[1]));
        }
        int vocab = (int) dims[1];
        requirePositive(file, "llama.feed_forward_length", ffn);
        requirePositive(file, "llama.context_length", context);
        requirePositive(file, "llama.attention.layer_norm_rms_epsilon", eps);
        requirePositive(file, "llama.rope.freq_base", theta);
        requirePositive(file, "llama.rope.scaling.factor", linear);
        int tokens = md.find("tokenizer.ggml.tokens").isPresent() ? md.getStringArray("tokenizer.ggml.tokens").size() : vocab;
        if (tokens != vocab) {
            throw new BadModelException(FileProblem.message(file, "tokenizer.ggml.tokens does not match token_embd.weight",
                    vocab + " tokens, one per embedding row", tokens + " tokens"));
        }
        int bos = tokenId(md, file, "tokenizer.ggml.bos_token_id", 1, vocab);
        int eos = tokenId(md, file, "tokenizer.ggml.eos_token_id", 2, vocab);
        long pad = md.findLong("tokenizer.ggml.padding_token_id").orElse(-1);
        int padId = pad >= 0 && pad < vocab ? (int) pad : -1;
        boolean tied = gguf.findTensor("output.weight").isEmpty();
        String name = md.findString("general.name").orElse(gguf.path().getFileName().toString());
        return new LlamaConfig(name, hidden, layers, heads, kvHeads, headDim, ffn, vocab, eps, theta, linear, context,
                bos, eos, padId, tied);
    }

    private static void requirePositive(String file, String key, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new BadModelException(FileProblem.message(file, "GGUF key " + key + " is out of range",
                    "a positive finite number", value));
        }
    }

    /** A special token's id, which the model must be able to embed: one of its {@code vocab} rows. */
    private static int tokenId(GgufMetadata md, String file, String key, int fallback, int vocab) {
        long id = md.findLong(key).orElse(fallback);
        if (id < 0 || id >= vocab) {
            throw new BadModelException(FileProblem.message(file, "GGUF key " + key + " names a token the model cannot embed",
                    "an id from 0 to " + (vocab - 1), id));
        }
        return (int) id;
    }

    /** Bytes of float32 weights the imported model holds (embedding and LM head counted separately). */
    public long weightBytes() {
        long attention = (long) hiddenSize * headDim * (2L * heads + 2L * kvHeads);
        long perLayer = 2L * hiddenSize + attention + 3L * hiddenSize * intermediateSize;
        return 4L * (2L * vocabSize * hiddenSize + hiddenSize + layers * perLayer);
    }
}
