package dev.onnxsteer.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Turns generated token ids into text one token at a time, emitting only the new text; the pieces
 * add up to exactly what the tokenizer decodes the whole sequence to.
 *
 * <p>Decoding a token on its own is wrong for SentencePiece ({@code ▁} spaces that the decoder
 * strips at the start of a text) and for byte-fallback pieces (one UTF-8 character spread over
 * several {@code <0xNN>} tokens). So each step decodes a few tokens of context plus the tokens
 * not yet settled, removes the context's text, and emits the suffix beyond what was emitted
 * before. Text a later token may still change is held back: with a byte-fallback decoder, a
 * trailing run of byte tokens until it is followed by another token or is already malformed (see
 * {@link ByteFallback}: a valid {@code é} can still become two U+FFFDs); with a byte-level decoder
 * (GPT-2), a trailing U+FFFD, an unfinished character. Once enough tokens have been emitted
 * cleanly, the last few become the new context, so each step decodes a bounded number of tokens
 * however long the generation runs.
 */
public final class StreamDecoder {
    /** Tokens decoded in front of the unsettled ones, so leading spaces come out right. */
    static final int CONTEXT_TOKENS = 4;
    /** Unsettled tokens kept before they are folded into the context. */
    private static final int SETTLE_AFTER = 16;

    private final Tokenizer tokenizer;
    private final ByteFallback byteFallback;
    private final Set<Long> skipped;
    private long[] context;
    private String contextText;
    private final List<Long> pending = new ArrayList<>();
    private String pendingEmitted = "";
    private final StringBuilder emitted = new StringBuilder();

    StreamDecoder(Tokenizer tokenizer, long[] promptIds) {
        this.tokenizer = tokenizer;
        this.byteFallback = tokenizer.byteFallback();
        this.skipped = Set.copyOf(tokenizer.specialTokens().values());
        setContext(Arrays.copyOfRange(promptIds, Math.max(0, promptIds.length - CONTEXT_TOKENS), promptIds.length));
    }

    /** Adds one generated token and returns the text it completes; empty while that text may still change. */
    public String push(long tokenId) {
        pending.add(tokenId);
        List<Long> run = trailingByteRun();
        boolean runMayChange = !run.isEmpty() && !byteFallback.malformed(run);
        String text = decodePending(runMayChange ? pending.size() - run.size() : pending.size());
        if (byteFallback == ByteFallback.NONE && text.endsWith("\uFFFD")) {
            return "";
        }
        String piece = emit(text);
        // a context that ends inside a byte run would decode that run without its start, so settle only outside one
        if (run.isEmpty() && pending.size() >= SETTLE_AFTER) {
            long[] all = Tokenizer.concat(context, pending);
            setContext(Arrays.copyOfRange(all, all.length - CONTEXT_TOKENS, all.length));
        }
        return piece;
    }

    /** Text emitted so far (never includes held-back text). */
    public String text() {
        return emitted.toString();
    }

    /** Emits whatever was held back (an unfinished character at the very end comes out as U+FFFD). */
    public String flush() {
        return emit(decodePending(pending.size()));
    }

    /**
     * The new part of {@code text}, the decode of the unsettled tokens. The held-back rules keep
     * every emitted text a prefix of later ones; should a tokenizer break that, nothing is emitted
     * until the decode catches up, and {@link #flush()} still returns the rest.
     */
    private String emit(String text) {
        if (!text.startsWith(pendingEmitted)) {
            return "";
        }
        String piece = text.substring(pendingEmitted.length());
        pendingEmitted = text;
        emitted.append(piece);
        return piece;
    }

    /**
     * The trailing pending tokens from the first byte token of the last run of them (special
     * tokens inside it included: they are dropped before decoding, so they do not end a run);
     * empty when the last other token is not a byte token.
     */
    private List<Long> trailingByteRun() {
        int start = pending.size();
        for (int i = pending.size() - 1; i >= 0; i--) {
            long id = pending.get(i);
            if (byteFallback.isByte(id)) {
                start = i;
            } else if (!skipped.contains(id)) {
                break;
            }
        }
        return pending.subList(start, pending.size());
    }

    private void setContext(long[] tokens) {
        context = tokens;
        contextText = tokens.length == 0 ? "" : tokenizer.decode(tokens, true);
        pending.clear();
        pendingEmitted = "";
    }

    /** Text of the first {@code count} pending tokens after the context. */
    private String decodePending(int count) {
        List<Long> ids = pending.subList(0, count);
        String full = tokenizer.decode(Tokenizer.concat(context, ids), true);
        if (full.startsWith(contextText)) {
            return full.substring(contextText.length());
        }
        // the context decodes differently once followed by more tokens: fall back to the pending ids alone
        return tokenizer.decode(Tokenizer.concat(new long[0], ids), true);
    }
}
