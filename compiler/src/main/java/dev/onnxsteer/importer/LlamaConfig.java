package dev.onnxsteer.importer;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufMetadata;
import dev.onnxsteer.gguf.GgufTensorInfo;
import dev.onnxsteer.io.FileProblem;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;

/**
 * The hyperparameters of a llama-family GGUF, read from its {@code ARCH.*} keys (ARCH is
 * {@code general.architecture}: {@code llama}, {@code qwen2}, {@code phi3} or {@code gemma}, which llama.cpp names with the
 * same suffixes) and its {@code tokenizer.ggml.*} keys. The four share one decoder shape (RMSNorm, rotary
 * attention with grouped KV heads, SwiGLU MLP); they differ in what {@link LlamaGraph} reads: qwen2 adds q/k/v
 * biases, phi3 fuses q|k|v into {@code attn_qkv} and gate|up into {@code ffn_up}, and both keep q/k rows in
 * Hugging Face order because llama.cpp turns them with its NEOX rope (halves), not llama's adjacent pairs.
 * gemma (NEOX rope too) scales the embeddings by sqrt(hidden), uses GELU (tanh approximation) in its MLP
 * and ties the LM head to the embedding; its GGUF norm weights already hold Hugging Face's {@code 1 + w}.
 *
 * @param architecture {@code general.architecture}
 *
 * @param headDim {@code ARCH.attention.key_length}, else embedding_length / head_count (see {@link #headSize})
 * @param vocabSize rows of {@code token_embd.weight}
 * @param ropeTheta {@code ARCH.rope.freq_base}, 10000 when absent
 * @param ropeLinearFactor {@code ARCH.rope.scaling.factor} when the scaling type is linear, else 1
 * @param tiedEmbeddings true when the file has no {@code output.weight}, so the LM head reuses the embedding
 * @param padTokenId -1 when the file names none
 */
public record LlamaConfig(
        String architecture,
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

    public static final String LLAMA = "llama";
    public static final String QWEN2 = "qwen2";
    public static final String PHI3 = "phi3";
    public static final String GEMMA = "gemma";
    public static final String GEMMA2 = "gemma2";
    public static final List<String> SUPPORTED_ARCHITECTURES = List.of(LLAMA, QWEN2, PHI3, GEMMA, GEMMA2);
    /** How llama.cpp tells Gemma 2 27B from the 2B (26 layers) and 9B (42): by its block count. */
    static final int GEMMA2_27B_LAYERS = 46;

    /** Reads the config; refuses architectures not in {@link #SUPPORTED_ARCHITECTURES} and settings the importer cannot reproduce. */
    public static LlamaConfig from(GgufFile gguf) {
        GgufMetadata md = gguf.metadata();
        String file = gguf.path().toString();
        String arch = md.getString("general.architecture");
        if (!SUPPORTED_ARCHITECTURES.contains(arch)) {
            throw new BadModelException(FileProblem.message(file, "has an unsupported architecture",
                    "general.architecture one of " + String.join(", ", SUPPORTED_ARCHITECTURES), arch));
        }
        int hidden = md.getInt(arch + ".embedding_length");
        int layers = md.getInt(arch + ".block_count");
        int heads = md.getInt(arch + ".attention.head_count");
        int kvHeads = md.findLong(arch + ".attention.head_count_kv").isPresent() ? md.getInt(arch + ".attention.head_count_kv") : heads;
        int ffn = md.getInt(arch + ".feed_forward_length");
        float eps = (float) md.getDouble(arch + ".attention.layer_norm_rms_epsilon");
        float theta = (float) md.findDouble(arch + ".rope.freq_base").orElse(10000.0);
        int context = md.getInt(arch + ".context_length");
        if (hidden <= 0 || heads <= 0 || kvHeads <= 0 || layers <= 0 || heads % kvHeads != 0) {
            throw new BadModelException(FileProblem.message(file, "has attention sizes that do not fit together",
                    "positive sizes and head_count_kv dividing head_count",
                    "embedding_length " + hidden + ", head_count " + heads + ", head_count_kv " + kvHeads));
        }
        int headDim = headSize(md, file, arch, hidden, heads);
        OptionalLong ropeDims = md.findLong(arch + ".rope.dimension_count");
        if (ropeDims.isPresent() && ropeDims.getAsLong() != headDim) {
            throw new BadModelException(FileProblem.message(file, "has partial rotary embedding, which the importer does not support",
                    arch + ".rope.dimension_count the whole head, " + headDim, ropeDims.getAsLong()));
        }
        if (headDim % 2 != 0) {
            throw new BadModelException(FileProblem.message(file, "has an odd head size", "an even head size for rotary embedding",
                    headDim));
        }
        float linear = 1f;
        String scaling = md.findString(arch + ".rope.scaling.type").orElse("none");
        if (scaling.equals("linear")) {
            linear = (float) md.getDouble(arch + ".rope.scaling.factor");
        } else if (!scaling.equals("none")) {
            throw new BadModelException(FileProblem.message(file, "has a RoPE scaling the importer does not support",
                    arch + ".rope.scaling.type none or linear", scaling));
        }
        if (md.contains(arch + ".rope.scale_linear")) {
            linear = (float) md.getDouble(arch + ".rope.scale_linear");
        }
        if (md.contains(arch + ".expert_count") && md.getLong(arch + ".expert_count") > 0) {
            throw new BadModelException(FileProblem.message(file, "is a mixture-of-experts model; the importer supports dense "
                    + "models only", arch + ".expert_count 0", md.getLong(arch + ".expert_count")));
        }
        GgufTensorInfo embd = gguf.tensor("token_embd.weight");
        long[] dims = embd.dims();
        if (dims.length != 2 || dims[0] != hidden) {
            throw new BadModelException(FileProblem.message(file, "tensor token_embd.weight does not fit embedding_length",
                    "shape [vocab, " + hidden + "]", Arrays.toString(embd.shape())));
        }
        if (dims[1] <= 0 || dims[1] > Integer.MAX_VALUE) {
            throw new BadModelException(FileProblem.message(file, "tensor token_embd.weight has no usable vocabulary size",
                    "1 to " + Integer.MAX_VALUE + " rows", dims[1]));
        }
        int vocab = (int) dims[1];
        requirePositive(file, arch + ".feed_forward_length", ffn);
        requirePositive(file, arch + ".context_length", context);
        requirePositive(file, arch + ".attention.layer_norm_rms_epsilon", eps);
        requirePositive(file, arch + ".rope.freq_base", theta);
        requirePositive(file, arch + ".rope.scaling.factor", linear);
        int tokens = md.find("tokenizer.ggml.tokens").isPresent() ? md.getStringArray("tokenizer.ggml.tokens").size() : vocab;
        if (tokens != vocab) {
            throw new BadModelException(FileProblem.message(file, "tokenizer.ggml.tokens does not match token_embd.weight",
                    vocab + " tokens, one per embedding row", tokens + " tokens"));
        }
        int bos = tokenId(md, file, "tokenizer.ggml.bos_token_id", 1, vocab);
        int eos = tokenId(md, file, "tokenizer.ggml.eos_token_id", 2, vocab);
        long pad = md.findLong("tokenizer.ggml.padding_token_id").orElse(-1);
        int padId = pad >= 0 && pad < vocab ? (int) pad : -1;
        if (arch.equals(PHI3) && gguf.findTensor("rope_factors_long.weight").isPresent()) {
            throw new BadModelException(FileProblem.message(file, "is a phi3 with LongRoPE, which the importer does not support",
                    "plain rotary embedding (the 4k-context models)", "tensor rope_factors_long.weight"));
        }
        boolean tied = gguf.findTensor("output.weight").isEmpty();
        String name = md.findString("general.name").orElse(gguf.path().getFileName().toString());
        return new LlamaConfig(arch, name, hidden, layers, heads, kvHeads, headDim, ffn, vocab, eps, theta, linear, context,
                bos, eos, padId, tied);
    }

    /**
     * The size of one attention head: {@code ARCH.attention.key_length} where the file states it (Gemma's 256 beside a
     * hidden size of 3072 over 16 heads, Mistral Nemo's 128 beside 5120 over 32), else embedding_length / head_count,
     * as llama.cpp reads it. Values must have the keys' size: the importer has one head size for q, k and v.
     */
    private static int headSize(GgufMetadata md, String file, String arch, int hidden, int heads) {
        OptionalLong key = md.findLong(arch + ".attention.key_length");
        OptionalLong value = md.findLong(arch + ".attention.value_length");
        if (key.isEmpty()) {
            if (hidden % heads != 0) {
                throw new BadModelException(FileProblem.message(file, "has no head size",
                        arch + ".attention.key_length, or head_count dividing embedding_length",
                        "embedding_length " + hidden + ", head_count " + heads));
            }
            key = OptionalLong.of(hidden / heads);
        }
        long headDim = key.getAsLong();
        if (headDim <= 0 || headDim > Integer.MAX_VALUE / heads) {
            throw new BadModelException(FileProblem.message(file, "GGUF key " + arch + ".attention.key_length is out of range",
                    "1 to " + Integer.MAX_VALUE / heads + " (head_count " + heads + " heads of it in one projection)", headDim));
        }
        if (value.isPresent() && value.getAsLong() != headDim) {
            throw new BadModelException(FileProblem.message(file, "has value heads of another size than its key heads, which the "
                    + "importer does not support", arch + ".attention.value_length equal to key_length " + headDim, value.getAsLong()));
        }
        return (int) headDim;
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

    /**
     * Whether q/k rows are in llama's GGUF order (rotary over adjacent pairs, permuted by llama.cpp's converter),
     * rather than Hugging Face's (rotary over halves: llama.cpp's NEOX rope, used for qwen2 and phi3).
     */
    public boolean rotaryRowsPermuted() {
        return architecture.equals(LLAMA);
    }

    /** gemma and gemma2: embeddings times sqrt(hidden size), GELU (tanh) in place of SiLU (gemma2's further changes: {@link Gemma2Settings}). */
    public boolean gemma() {
        return architecture.equals(GEMMA) || architecture.equals(GEMMA2);
    }

    /**
     * The number whose inverse square root scales q·k, as llama.cpp's graphs scale it: the head size, except for
     * gemma2's 46-layer 27B, where llama.cpp (after gemma_pytorch's config) uses embedding_length / head_count in
     * integer division (4608 / 32 = 144 beside head size 128). Hugging Face's Gemma2 config calls it
     * {@code query_pre_attn_scalar}.
     */
    public int queryPreAttnScalar() {
        return architecture.equals(GEMMA2) && layers == GEMMA2_27B_LAYERS ? hiddenSize / heads : headDim;
    }

    /** The factor on q·k before the softmax: 1 / sqrt({@link #queryPreAttnScalar()}). */
    public float attentionScale() {
        return (float) (1.0 / StrictMath.sqrt(queryPreAttnScalar()));
    }

    /** Bytes of float32 weights the imported model holds (embedding and LM head counted separately). */
    public long weightBytes() {
        long attention = (long) hiddenSize * headDim * (2L * heads + 2L * kvHeads);
        long perLayer = 2L * hiddenSize + attention + 3L * hiddenSize * intermediateSize;
        return 4L * (2L * vocabSize * hiddenSize + hiddenSize + layers * perLayer);
    }
}
