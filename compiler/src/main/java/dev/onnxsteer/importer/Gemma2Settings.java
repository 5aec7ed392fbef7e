package dev.onnxsteer.importer;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.gguf.GgufMetadata;
import dev.onnxsteer.io.FileProblem;

/**
 * What gemma2 adds to gemma, read as llama.cpp's gemma2 graph reads it ({@code llama-model.cpp}):
 * tanh soft-capping of the attention scores ({@code gemma2.attn_logit_softcapping}, default 50) and of the
 * final logits ({@code gemma2.final_logit_softcapping}, default 30), and sliding-window attention
 * ({@code gemma2.attention.sliding_window}, default 4096) in every even layer (0, 2, ...; llama.cpp's swa
 * pattern 2, HF's {@code not layer_idx % 2}). The GGUF has no key for HF's {@code query_pre_attn_scalar}; the
 * size-dependent query scaling llama.cpp uses instead is {@link LlamaConfig#queryPreAttnScalar()}.
 */
record Gemma2Settings(float attentionSoftcap, float finalSoftcap, int slidingWindow) {
    static Gemma2Settings from(GgufMetadata md) {
        String a = LlamaConfig.GEMMA2 + ".";
        float attention = (float) md.findDouble(a + "attn_logit_softcapping").orElse(50.0);
        float last = (float) md.findDouble(a + "final_logit_softcapping").orElse(30.0);
        long window = md.findLong(a + "attention.sliding_window").orElse(4096);
        positive(md, a + "attn_logit_softcapping", attention);
        positive(md, a + "final_logit_softcapping", last);
        positive(md, a + "attention.sliding_window", window);
        return new Gemma2Settings(attention, last, (int) Math.min(window, Integer.MAX_VALUE));
    }

    /** Whether layer {@code l} attends within the sliding window. */
    boolean slides(int l) {
        return l % 2 == 0;
    }

    private static void positive(GgufMetadata md, String key, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new BadModelException(FileProblem.message(md.source(), "GGUF key " + key + " is out of range",
                    "a positive finite number", value));
        }
    }
}
