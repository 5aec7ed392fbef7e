package dev.onnxsteer.importer;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufValue;
import dev.onnxsteer.gguf.GgufValueType;
import dev.onnxsteer.gguf.GgufWriter;
import dev.onnxsteer.ir.HalfFloats;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Tiny seeded F32 GGUFs of the non-llama architectures, tensors named and shaped as llama.cpp's loader wants
 * them ({@code qwen2}: separate q/k/v with biases; {@code phi3}: fused {@code attn_qkv} and {@code ffn_up}
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

    private ArchitectureFixtures() {}

    /** Writes the F32 fixture of {@code architecture} ({@code qwen2} or {@code phi3} or {@code gemma}) to {@code target}. */
    public static Path write(String architecture, Path target) {
        return write(architecture, target, GgmlType.F32);
    }

    /**
     * Writes the fixture with its projection matrices as {@code matrices} (F32 or Q8_0, the latter quantised
     * here: per block of 32, scale max|x|/127 as fp16, values rounded to the nearest step).
     */
    public static Path write(String architecture, Path target, GgmlType matrices) {
        Map<String, GgufValue> tokenizer = new LinkedHashMap<>();
        try (GgufFile stories = GgufFile.open(TestPaths.sharedModel("stories260K/stories260K.gguf"))) {
            stories.metadata().asMap().forEach((key, value) -> {
                if (key.startsWith("tokenizer.")) {
                    tokenizer.put(key, value);
                }
            });
        }
        return write(architecture, target, matrices, tokenizer);
    }

    /** As {@link #write(String, Path, GgmlType)} with the {@code tokenizer.*} keys given; the vocabulary size follows them. */
    public static Path write(String architecture, Path target, GgmlType matrices, Map<String, GgufValue> tokenizer) {
        if (matrices != GgmlType.F32 && matrices != GgmlType.Q8_0) {
            throw new IllegalArgumentException("fixture matrices are F32 or Q8_0, not " + matrices);
        }
        GgmlType type = matrices;
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", new GgufValue.Str(architecture));
        // not "tiny-phi3": llama.cpp gives a model named like phi3 the attributes of Phi-3's special tokens and
        // fails on a vocabulary without <|endoftext|>
        w.put("general.name", new GgufValue.Str("onnx-steer tiny fixture"));
        tokenizer.forEach(w::put);
        int vocab = ((GgufValue.Array) tokenizer.get("tokenizer.ggml.tokens")).elements().size();
        String a = architecture + ".";
        uint(w, a + "block_count", LAYERS);
        uint(w, a + "context_length", 256);
        uint(w, a + "embedding_length", HIDDEN);
        uint(w, a + "feed_forward_length", FFN);
        uint(w, a + "attention.head_count", HEADS);
        uint(w, a + "attention.head_count_kv", KV_HEADS);
        uint(w, a + "rope.dimension_count", HEAD_DIM);
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
        int kv = KV_HEADS * HEAD_DIM;
        matrix(w, random, "token_embd.weight", HIDDEN, vocab, 1.0f, GgmlType.F32);
        norm(w, random, "output_norm.weight");
        if (!architecture.equals(LlamaConfig.GEMMA) && !gemma2) { // gemma ties its LM head to the embedding
            matrix(w, random, "output.weight", HIDDEN, vocab, 0.3f, type);
        }
        for (int l = 0; l < LAYERS; l++) {
            String b = "blk." + l + ".";
            norm(w, random, b + "attn_norm.weight");
            norm(w, random, b + "ffn_norm.weight");
            if (gemma2) {
                norm(w, random, b + "post_attention_norm.weight");
                norm(w, random, b + "post_ffw_norm.weight");
            }
            if (architecture.equals(LlamaConfig.PHI3)) {
                matrix(w, random, b + "attn_qkv.weight", HIDDEN, HIDDEN + 2 * kv, 0.3f, type);
                matrix(w, random, b + "ffn_up.weight", HIDDEN, 2 * FFN, 0.3f, type);
            } else {
                matrix(w, random, b + "attn_q.weight", HIDDEN, HIDDEN, 0.3f, type);
                matrix(w, random, b + "attn_k.weight", HIDDEN, kv, 0.3f, type);
                matrix(w, random, b + "attn_v.weight", HIDDEN, kv, 0.3f, type);
                if (architecture.equals(LlamaConfig.QWEN2)) {
                    vector(w, random, b + "attn_q.bias", HIDDEN, 0.5f);
                    vector(w, random, b + "attn_k.bias", kv, 0.5f);
                    vector(w, random, b + "attn_v.bias", kv, 0.5f);
                }
                matrix(w, random, b + "ffn_gate.weight", HIDDEN, FFN, 0.3f, type);
                matrix(w, random, b + "ffn_up.weight", HIDDEN, FFN, 0.3f, type);
            }
            matrix(w, random, b + "attn_output.weight", HIDDEN, HIDDEN, 0.3f, type);
            matrix(w, random, b + "ffn_down.weight", FFN, HIDDEN, 0.3f, type);
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
        if (type == GgmlType.Q8_0) {
            w.addTensor(name, new long[] {cols, rows}, GgmlType.Q8_0, out -> out.write(q8_0(data)));
        } else {
            w.addTensor(name, new long[] {cols, rows}, data);
        }
    }

    /** Q8_0 blocks: fp16 scale d = max|x| / 127 (little-endian), then 32 int8 values round(x / d). */
    private static byte[] q8_0(float[] data) {
        byte[] blocks = new byte[data.length / 32 * 34];
        for (int b = 0; b < data.length / 32; b++) {
            float max = 0;
            for (int i = 0; i < 32; i++) {
                max = Math.max(max, Math.abs(data[32 * b + i]));
            }
            short half = HalfFloats.toFloat16(max / 127);
            float d = HalfFloats.fromFloat16(half);
            blocks[34 * b] = (byte) half;
            blocks[34 * b + 1] = (byte) (half >> 8);
            for (int i = 0; i < 32; i++) {
                long q = d == 0 ? 0 : Math.round(data[32 * b + i] / d);
                blocks[34 * b + 2 + i] = (byte) Math.max(-127, Math.min(127, q));
            }
        }
        return blocks;
    }

    private static void norm(GgufWriter w, Random random, String name) {
        float[] data = new float[HIDDEN];
        for (int i = 0; i < HIDDEN; i++) {
            data[i] = (float) (1 + 0.2 * random.nextGaussian());
        }
        w.addTensor(name, new long[] {HIDDEN}, data);
    }

    private static void vector(GgufWriter w, Random random, String name, int size, float gain) {
        float[] data = new float[size];
        for (int i = 0; i < size; i++) {
            data[i] = (float) (random.nextGaussian() * gain);
        }
        w.addTensor(name, new long[] {size}, data);
    }
}
