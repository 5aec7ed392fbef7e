package dev.onnxsteer.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns generated token ids into text one token at a time, emitting only the new text.
 *
 * <p>Decoding a token on its own is wrong for SentencePiece ({@code ▁} spaces that the decoder
 * strips at the start of a text) and for byte-fallback pieces (one UTF-8 character spread over
 * several {@code <0xNN>} tokens). So each step decodes a few tokens of context plus the tokens
 * not yet settled, removes the context's text, and emits the suffix beyond what was emitted
 * before. While the text ends in an incomplete UTF-8 sequence (decoded as U+FFFD) the new text
 * is held back until a later token completes it. Once enough tokens have been emitted cleanly,
 * the last few become the new context, so each step decodes a bounded number of tokens however
 * long the generation runs.
 */
public final class StreamDecoder {
    /** Tokens decoded in front of the unsettled ones, so leading spaces come out right. */
    static final int CONTEXT_TOKENS = 4;
    /** Unsettled tokens kept before they are folded into the context. */
    private static final int SETTLE_AFTER = 16;

    private final Tokenizer tokenizer;
    private long[] context;
    private String contextText;
    private final List<Long> pending = new ArrayList<>();
    private String pendingEmitted = "";
    private final StringBuilder emitted = new StringBuilder();

    StreamDecoder(Tokenizer tokenizer, long[] promptIds) {
        this.tokenizer = tokenizer;
        setContext(Arrays.copyOfRange(promptIds, Math.max(0, promptIds.length - CONTEXT_TOKENS), promptIds.length));
    }

    /** Adds one generated token and returns the text it completes; empty while a character is incomplete. */
    public String push(long tokenId) {
        pending.add(tokenId);
        String text = decodePending();
        if (text.endsWith("\uFFFD") || !text.startsWith(pendingEmitted)) {
            return "";
        }
        String piece = text.substring(pendingEmitted.length());
        pendingEmitted = text;
        emitted.append(piece);
        if (pending.size() >= SETTLE_AFTER) {
            long[] all = Tokenizer.concat(context, pending);
            setContext(Arrays.copyOfRange(all, all.length - CONTEXT_TOKENS, all.length));
        }
        return piece;
    }

    /** Text emitted so far (never includes a held-back incomplete character). */
    public String text() {
        return emitted.toString();
    }

    /** Emits whatever was held back (an incomplete character at the very end comes out as U+FFFD). */
    public String flush() {
        String text = decodePending();
        if (!text.startsWith(pendingEmitted) || text.length() == pendingEmitted.length()) {
            return "";
        }
        String piece = text.substring(pendingEmitted.length());
        pendingEmitted = text;
        emitted.append(piece);
        return piece;
    }

    private void setContext(long[] tokens) {
        context = tokens;
        contextText = tokens.length == 0 ? "" : tokenizer.decode(tokens, true);
        pending.clear();
        pendingEmitted = "";
    }

    private String decodePending() {
        String full = tokenizer.decode(Tokenizer.concat(context, pending), true);
        if (full.startsWith(contextText)) {
            return full.substring(contextText.length());
        }
        // the context decodes differently once followed by more tokens: fall back to the pending ids alone
        return tokenizer.decode(Tokenizer.concat(new long[0], pending), true);
    }
}
