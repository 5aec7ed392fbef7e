package dev.onnxsteer.generate;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;

/**
 * One row of a generate call between the model and the caller: chooses its next token from the logits
 * (repetition penalty, then its sampler), decides when it is done (EOS, stop string, length, cancel) and
 * streams its text through the listener, never showing a stop string or its beginning.
 */
final class RowState {
    final int index;
    private final String prompt;
    private final long[] promptIds;
    private final Sampler sampler;
    private final StreamDecoder decoder;
    private final GenerationConfig generation;
    private final Set<Long> eos;
    private final BooleanSupplier cancelled;
    private final List<Long> generated = new ArrayList<>();
    private FinishReason reason;
    private String text = "";
    private int streamed;
    private long finishedAt;

    /** @param decoder null without a tokenizer: then no text is produced */
    RowState(int index, String prompt, long[] promptIds, Sampler sampler, StreamDecoder decoder,
            GenerationConfig generation, Set<Long> eos, BooleanSupplier cancelled) {
        this.index = index;
        this.prompt = prompt;
        this.promptIds = promptIds;
        this.sampler = sampler;
        this.decoder = decoder;
        this.generation = generation;
        this.eos = eos;
        this.cancelled = cancelled;
    }

    boolean finished() {
        return reason != null;
    }

    /** Whether the caller asked to stop this row. */
    boolean cancelRequested() {
        return cancelled.getAsBoolean();
    }

    /** The next token for {@code logits} (which it may change in place). */
    long choose(float[] logits) {
        double penalty = generation.sampling().repetitionPenalty();
        if (penalty != 1.0) {
            RepetitionPenalty.apply(logits, Tokenizer.concat(promptIds, generated), penalty);
        }
        return sampler.sample(logits);
    }

    /** Records {@code token}, decides whether the row is done, and streams its text. */
    void advance(long token, boolean contextFull, TokenListener listener) {
        if (eos.contains(token)) {
            finish(FinishReason.EOS, listener, token);
            return;
        }
        generated.add(token);
        if (decoder == null) {
            if (generated.size() >= generation.maxTokens() || contextFull) {
                reason = FinishReason.LENGTH;
                finishedAt = System.nanoTime();
            }
            listener.onToken(index, token, "");
            return;
        }
        String pushed = decoder.push(token);
        if (generation.stopStrings().isEmpty()) {
            // nothing is held back: the decoder's new text is the piece, and the text so far is never rebuilt
            if (generated.size() >= generation.maxTokens() || contextFull) {
                finish(FinishReason.LENGTH, listener, token);
                return;
            }
            streamed += pushed.length();
            listener.onToken(index, token, pushed);
            return;
        }
        String all = decoder.text();
        int stopAt = -1;
        for (String stop : generation.stopStrings()) {
            int at = all.indexOf(stop);
            if (at >= 0 && (stopAt < 0 || at < stopAt)) {
                stopAt = at;
            }
        }
        if (stopAt >= 0) {
            String piece = stopAt > streamed ? all.substring(streamed, stopAt) : "";
            text = all.substring(0, stopAt);
            streamed = stopAt;
            reason = FinishReason.STOP;
            finishedAt = System.nanoTime();
            listener.onToken(index, token, piece);
            return;
        }
        if (generated.size() >= generation.maxTokens() || contextFull) {
            finish(FinishReason.LENGTH, listener, token);
            return;
        }
        int safe = all.length() - heldBack(all, generation.stopStrings());
        String piece = safe > streamed ? all.substring(streamed, safe) : "";
        streamed = Math.max(streamed, safe);
        listener.onToken(index, token, piece);
    }

    /** Stops a row the caller cancelled: its text so far is kept, the listener hears nothing more. */
    void cancel() {
        if (decoder != null) {
            decoder.flush();
            text = decoder.text();
        }
        reason = FinishReason.CANCELLED;
        finishedAt = System.nanoTime();
    }

    private void finish(FinishReason why, TokenListener listener, long token) {
        String piece = "";
        if (decoder != null) {
            decoder.flush();
            String all = decoder.text();
            piece = all.length() > streamed ? all.substring(streamed) : "";
            text = all;
            streamed = all.length();
        }
        reason = why;
        finishedAt = System.nanoTime();
        listener.onToken(index, token, piece);
    }

    /** The row's result; decode speed is measured from {@code prefillEnd} to when the row finished. */
    Generation result(long prefillEnd, double prefillMs, double runMs, double decodeRunMs) {
        int count = generated.size();
        double decodeSeconds = (finishedAt - prefillEnd) / 1e9;
        double rate = count > 1 && decodeSeconds > 0 ? (count - 1) / decodeSeconds : 0;
        return new Generation(prompt, text, generated, reason, promptIds.length, count, prefillMs, rate, runMs, decodeRunMs);
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of a stop string (not yet safe to stream). */
    static int heldBack(String text, List<String> stops) {
        int held = 0;
        for (String stop : stops) {
            for (int n = Math.min(stop.length() - 1, text.length()); n > held; n--) {
                if (text.regionMatches(text.length() - n, stop, 0, n)) {
                    held = n;
                    break;
                }
            }
        }
        return held;
    }
}
