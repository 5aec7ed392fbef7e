package dev.onnxsteer.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns generated token ids into text one token at a time, emitting only the new text.
 *
 * <p>Decoding a token on its own is wrong for SentencePiece ({@code ▁} spaces that the decoder
 * strips at the start of a text) and for byte-fallback pieces (one UTF-8 character spread over
 * several {@code <0xNN>} tokens). So each step decodes a few prompt tokens of context plus the
 * whole generated list, removes the context's text, and emits the suffix beyond what was
 * emitted before. While the text ends in an incomplete UTF-8 sequence (decoded as U+FFFD) the
 * new text is held back until a later token completes it.
 */
public final class StreamDecoder {
    /** Prompt tokens decoded in front of the generated ones, so leading spaces come out right. */
    static final int CONTEXT_TOKENS = 4;

    private final Tokenizer tokenizer;
    private final long[] context;
    private final String contextText;
    private final List<Long> generated = new ArrayList<>();
    private String emitted = "";

    StreamDecoder(Tokenizer tokenizer, long[] promptIds) {
        this.tokenizer = tokenizer;
        this.context = Arrays.copyOfRange(promptIds, Math.max(0, promptIds.length - CONTEXT_TOKENS), promptIds.length);
        this.contextText = context.length == 0 ? "" : tokenizer.decode(context, true);
    }

    /** Adds one generated token and returns the text it completes; empty while a character is incomplete. */
    public String push(long tokenId) {
        generated.add(tokenId);
        String text = decodeGenerated();
        if (text.endsWith("\uFFFD") || !text.startsWith(emitted)) {
            return "";
        }
        String piece = text.substring(emitted.length());
        emitted = text;
        return piece;
    }

    /** Text emitted so far (never includes a held-back incomplete character). */
    public String text() {
        return emitted;
    }

    /** Emits whatever was held back (an incomplete character at the very end comes out as U+FFFD). */
    public String flush() {
        String text = decodeGenerated();
        if (!text.startsWith(emitted) || text.length() == emitted.length()) {
            return "";
        }
        String piece = text.substring(emitted.length());
        emitted = text;
        return piece;
    }

    private String decodeGenerated() {
        String full = tokenizer.decode(Tokenizer.concat(context, generated), true);
        if (full.startsWith(contextText)) {
            return full.substring(contextText.length());
        }
        // the context decodes differently once followed by more tokens: fall back to the generated ids alone
        return tokenizer.decode(Tokenizer.concat(new long[0], generated), true);
    }
}
