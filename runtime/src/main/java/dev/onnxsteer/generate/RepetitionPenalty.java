package dev.onnxsteer.generate;

/**
 * The CTRL / Hugging Face repetition penalty: every token that already occurs in the sequence
 * (prompt and generated) has a positive logit divided by {@code penalty} and a negative logit
 * multiplied by it, once per distinct token.
 */
public final class RepetitionPenalty {
    private RepetitionPenalty() {}

    /** Applies {@code penalty} (> 0; 1 = off) in place to {@code logits} for each distinct id in {@code seen}. */
    public static void apply(float[] logits, long[] seen, double penalty) {
        if (!(penalty > 0)) {
            throw new IllegalArgumentException("repetition penalty must be > 0, got " + penalty);
        }
        if (penalty == 1.0) {
            return;
        }
        boolean[] done = new boolean[logits.length];
        for (long id : seen) {
            if (id < 0 || id >= logits.length || done[(int) id]) {
                continue;
            }
            int token = (int) id;
            done[token] = true;
            float score = logits[token];
            logits[token] = (float) (score < 0 ? score * penalty : score / penalty);
        }
    }
}
