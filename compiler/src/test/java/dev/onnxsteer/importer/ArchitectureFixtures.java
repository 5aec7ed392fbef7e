package dev.onnxsteer.importer;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufValue;
import dev.onnxsteer.gguf.GgufValueType;
import dev.onnxsteer.gguf.GgufWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Tiny seeded F32 GGUFs of the importer's architectures, tensors named and shaped as llama.cpp's loader wants
 * them ({@code llama}: separate q/k/v, random rows standing for the converter's permuted ones; {@code qwen2}: separate q/k/v with biases; {@code phi3}: fused {@code attn_qkv} and {@code ffn_up}
 * holding gate|up), with stories260K's SentencePiece vocabulary (512 tokens), which llama.cpp accepts for any
 * architecture. gemma: no biases, no output.weight; gemma2 adds post-attention and post-FFN norms, a sliding
 * window of {@value #GEMMA2_WINDOW} and soft-capping at 2 (attention) and 4 (logits). 2 layers, hidden 64, 4 heads of 16, 2 KV heads, FFN 96.
 */
public final class ArchitectureFixtures {
    public static final int LAYERS = 2;
    public static final int HIDDEN = 64;
    public static final int HEADS = 4;
    public static final int KV_HEADS = 2;
    public static final int HEAD_DIM = HIDDEN / HEADS;
    public static final int FFN = 96;
    public static final int VOCAB = 512;
    public static final int GEMMA2_WINDOW = 5;

    /**
     * The fixture's shape. A head size other than hidden / heads is written as {@code ARCH.attention.key_length} and
     * {@code value_length}, as llama.cpp's converter writes Gemma's and Mistral Nemo's.
     */
    public record Sizes(int layers, int hidden, int heads, int kvHeads, int ffn, int headDim) {
        /** Heads of hidden / heads. */
        public Sizes(int layers, int hidden, int heads, int kvHeads, int ffn) {
            this(layers, hidden, heads, kvHeads, ffn, hidden / heads);
        }

        boolean statesHeadSize() {
            return headDim * heads != hidden;
        }
    }

    /** The default: 2 layers, hidden 64, 4 heads of 16, 2 KV heads, FFN 96 (rows too short for K-quants). */
    public static final Sizes TINY = new Sizes(LAYERS, HIDDEN, HEADS, KV_HEADS, FFN);
    /** Rows of 256 and 512 (every matrix a whole number of 256-value K-quant super-blocks): hidden 256, 4 heads of 64, FFN 512. */
    public static final Sizes WIDE = new Sizes(2, 256, 4, 2, 512);
    /** Gemma's real head size: hidden 512, 2 heads of 256 (as Gemma 2B's 8 of 256), 1 KV head, FFN 512. */
    public static final Sizes HEAD_256 = new Sizes(2, 512, 2, 1, 512);
    /**
     * Heads wider than hidden / heads, as Gemma 7B's 16 of 256 over hidden 3072: hidden 256, 4 heads of 128 (q is 512
     * wide), 2 KV heads, FFN 512; every row a whole number of K-quant super-blocks.
     */
    public static final Sizes WIDER_HEADS = new Sizes(2, 256, 4, 2, 512, 128);
    /**
     * Heads narrower than hidden / heads, as Gemma 2 2B's 8 of 256 over hidden 2304 and Mistral Nemo's 32 of 128 over
     * 5120: hidden 512, 4 heads of 64 (q is 256 wide), 2 KV heads, FFN 512; K-quant rows as above.
     */
    public static final Sizes NARROWER_HEADS = new Sizes(2, 512, 4, 2, 512, 64);

    private ArchitectureFixtures() {}

    /** Writes the F32 fixture of {@code architecture} ({@code llama}, {@code qwen2}, {@code phi3}, {@code gemma} or {@code gemma2}) to {@code target}. */
    public static Path write(String architecture, Path target) {
        return write(architecture, target, GgmlType.F32);
    }

    /**
     * Writes the fixture with its projection matrices as {@code matrices} (F32 or Q8_0, the latter quantised
     * here: per block of 32, scale max|x|/127 as fp16, values rounded to the nearest step).
     */
    public static Path write(String architecture, Path target, GgmlType matrices) {
        return write(architecture, target, matrices, TINY);
    }

    /**
     * The fixture in {@code sizes} with its projection matrices as {@code matrices}: F32, or quantised by
     * {@link FixtureQuantiser} to Q4_0, Q8_0, Q4_K or Q6_K (K-quants need every row a multiple of 256: {@link #WIDE},
     * {@link #HEAD_256}).
     */
    public static Path write(String architecture, Path target, GgmlType matrices, Sizes sizes) {
        Map<String, GgufValue> tokenizer = new LinkedHashMap<>();
        try (GgufFile stories = GgufFile.open(TestPaths.sharedModel("stories260K/stories260K.gguf"))) {
            stories.metadata().asMap().forEach((key, value) -> {
                if (key.startsWith("tokenizer.")) {
                    tokenizer.put(key, value);
                }
            });
        }
        return write(architecture, target, matrices, tokenizer, sizes);
    }

    /** As {@link #write(String, Path, GgmlType)} with the {@code tokenizer.*} keys given; the vocabulary size follows them. */
    public static Path write(String architecture, Path target, GgmlType matrices, Map<String, GgufValue> tokenizer) {
        return write(architecture, target, matrices, tokenizer, TINY);
    }

    /** The fixture in {@code sizes} with the {@code tokenizer.*} keys given (the vocabulary size follows them), as {@link #write(String, Path, GgmlType, Sizes)}. */
    public static Path write(String architecture, Path target, GgmlType matrices, Map<String, GgufValue> tokenizer, Sizes sizes) {
        if (!List.of(GgmlType.F32, GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K).contains(matrices)) {
            throw new IllegalArgumentException("fixture matrices are F32, Q4_0, Q8_0, Q4_K or Q6_K, not " + matrices);
        }
        int layers = sizes.layers();
        int hidden = sizes.hidden();
        int headDim = sizes.headDim();
        int ffn = sizes.ffn();
        GgmlType type = matrices;
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", new GgufValue.Str(architecture));
        // not "tiny-phi3": llama.cpp gives a model named like phi3 the attributes of Phi-3's special tokens and
        // fails on a vocabulary without <|endoftext|>
        w.put("general.name", new GgufValue.Str("onnx-steer tiny fixture"));
        tokenizer.forEach(w::put);
        int vocab = ((GgufValue.Array) tokenizer.get("tokenizer.ggml.tokens")).elements().size();
        String a = architecture + ".";
        uint(w, a + "block_count", layers);
        uint(w, a + "context_length", 256);
        uint(w, a + "embedding_length", hidden);
        uint(w, a + "feed_forward_length", ffn);
        uint(w, a + "attention.head_count", sizes.heads());
        uint(w, a + "attention.head_count_kv", sizes.kvHeads());
        uint(w, a + "rope.dimension_count", headDim);
        if (sizes.statesHeadSize()) {
            uint(w, a + "attention.key_length", headDim);
            uint(w, a + "attention.value_length", headDim);
        }
        w.put(a + "rope.freq_base", new GgufValue.Real(GgufValueType.FLOAT32, 10000));
        w.put(a + "attention.layer_norm_rms_epsilon", new GgufValue.Real(GgufValueType.FLOAT32, 1e-6));
        boolean gemma2 = architecture.equals(LlamaConfig.GEMMA2);
        if (gemma2) {
            // small enough to matter here: a window of 5 positions, caps near the fixture's score and logit sizes
            uint(w, a + "attention.sliding_window", GEMMA2_WINDOW);
            w.put(a + "attn_logit_softcapping", new GgufValue.Real(GgufValueType.FLOAT32, 2.0));
            w.put(a + "final_logit_softcapping", new GgufValue.Real(GgufValueType.FLOAT32, 4.0));
        }
        Random random = new Random(architecture.hashCode());
        int q = sizes.heads() * headDim;
        int kv = sizes.kvHeads() * headDim;
        matrix(w, random, "token_embd.weight", hidden, vocab, 1.0f, GgmlType.F32);
        norm(w, random, "output_norm.weight", hidden);
        if (!architecture.equals(LlamaConfig.GEMMA) && !gemma2) { // gemma ties its LM head to the embedding
            matrix(w, random, "output.weight", hidden, vocab, 0.3f, type);
        }
        for (int l = 0; l < layers; l++) {
            String b = "blk." + l + ".";
            norm(w, random, b + "attn_norm.weight", hidden);
            norm(w, random, b + "ffn_norm.weight", hidden);
            if (gemma2) {
                norm(w, random, b + "post_attention_norm.weight", hidden);
                norm(w, random, b + "post_ffw_norm.weight", hidden);
            }
            if (architecture.equals(LlamaConfig.PHI3)) {
                matrix(w, random, b + "attn_qkv.weight", hidden, q + 2 * kv, 0.3f, type);
                matrix(w, random, b + "ffn_up.weight", hidden, 2 * ffn, 0.3f, type);
            } else {
                matrix(w, random, b + "attn_q.weight", hidden, q, 0.3f, type);
                matrix(w, random, b + "attn_k.weight", hidden, kv, 0.3f, type);
                matrix(w, random, b + "attn_v.weight", hidden, kv, 0.3f, type);
                if (architecture.equals(LlamaConfig.QWEN2)) {
                    vector(w, random, b + "attn_q.bias", q, 0.5f);
                    vector(w, random, b + "attn_k.bias", kv, 0.5f);
                    vector(w, random, b + "attn_v.bias", kv, 0.5f);
                }
                matrix(w, random, b + "ffn_gate.weight", hidden, ffn, 0.3f, type);
                matrix(w, random, b + "ffn_up.weight", hidden, ffn, 0.3f, type);
            }
            matrix(w, random, b + "attn_output.weight", q, hidden, 0.3f, type);
            matrix(w, random, b + "ffn_down.weight", ffn, hidden, 0.3f, type);
        }
        w.write(target);
        return target;
    }

    private static void uint(GgufWriter w, String key, int value) {
        w.put(key, new GgufValue.Int(GgufValueType.UINT32, value));
    }

    /** ggml dims [cols, rows]; Gaussian entries scaled so each output has variance {@code gain^2}. */
    private static void matrix(GgufWriter w, Random random, String name, int cols, int rows, float gain, GgmlType type) {
        float[] data = new float[cols * rows];
        double scale = gain / Math.sqrt(cols) * 4;
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (random.nextGaussian() * scale);
        }
        if (type != GgmlType.F32) {
            // quantised now, so that a large fixture holds its blocks until the write, not its floats
            byte[] blocks = FixtureQuantiser.quantise(data, type);
            w.addTensor(name, new long[] {cols, rows}, type, out -> out.write(blocks));
        } else {
            w.addTensor(name, new long[] {cols, rows}, data);
        }
    }

    private static void norm(GgufWriter w, Random random, String name, int size) {
        float[] data = new float[size];
        for (int i = 0; i < size; i++) {
            data[i] = (float) (1 + 0.2 * random.nextGaussian());
        }
        w.addTensor(name, new long[] {size}, data);
    }

    private static void vector(GgufWriter w, Random random, String name, int size, float gain) {
        float[] data = new float[size];
        for (int i = 0; i < size; i++) {
            data[i] = (float) (random.nextGaussian() * gain);
        }
        w.addTensor(name, new long[] {size}, data);
    }
}
