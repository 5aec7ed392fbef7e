package dev.onnxsteer.generate;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code <0xNN>} tokens of a tokenizer whose decoder has a {@code ByteFallback} step
 * (SentencePiece llama vocabularies), and the rule that step applies: a maximal run of
 * consecutive byte tokens becomes its UTF-8 text when the run's bytes are valid UTF-8, and one
 * U+FFFD per token when they are not (Hugging Face tokenizers, {@code decoders/byte_fallback.rs}).
 * A run is therefore all-or-nothing: a byte that follows can turn an already valid run into
 * replacement characters, but nothing that follows can repair a run that is already malformed.
 */
final class ByteFallback {
    static final ByteFallback NONE = new ByteFallback(Map.of());

    private final Map<Long, Byte> bytesById;

    private ByteFallback(Map<Long, Byte> bytesById) {
        this.bytesById = bytesById;
    }

    /** Reads the byte tokens of a {@code tokenizer.json}; {@link #NONE} when its decoder has no ByteFallback step. */
    static ByteFallback of(JsonNode tokenizerJson) {
        if (!hasByteFallbackStep(tokenizerJson.path("decoder"))) {
            return NONE;
        }
        Map<Long, Byte> bytes = new HashMap<>();
        JsonNode vocab = tokenizerJson.path("model").path("vocab");
        if (vocab.isObject()) {
            vocab.fields().forEachRemaining(entry -> put(bytes, entry.getKey(), entry.getValue().asLong()));
        } else if (vocab.isArray()) {
            for (int id = 0; id < vocab.size(); id++) {
                put(bytes, vocab.get(id).path(0).asText(), id); // Unigram: [[piece, score], ...] in id order
            }
        }
        for (JsonNode added : tokenizerJson.path("added_tokens")) {
            put(bytes, added.path("content").asText(), added.path("id").asLong());
        }
        return new ByteFallback(Map.copyOf(bytes));
    }

    /** Whether the decoder turns {@code id} into a raw byte. */
    boolean isByte(long id) {
        return bytesById.containsKey(id);
    }

    /**
     * Whether the run of byte tokens {@code ids} can no longer decode to anything but U+FFFDs,
     * whatever bytes follow it: it holds a malformed sequence, not merely an unfinished character.
     */
    boolean malformed(List<Long> ids) {
        ByteBuffer in = ByteBuffer.allocate(ids.size());
        for (long id : ids) {
            Byte b = bytesById.get(id);
            if (b != null) { // special tokens inside a run are dropped before decoding
                in.put(b);
            }
        }
        in.flip();
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        // not end of input: an unfinished last character is left unread rather than reported
        return utf8.decode(in, CharBuffer.allocate(2 * ids.size() + 2), false).isError();
    }

    private static boolean hasByteFallbackStep(JsonNode decoder) {
        if ("ByteFallback".equals(decoder.path("type").asText())) {
            return true;
        }
        for (JsonNode step : decoder.path("decoders")) {
            if (hasByteFallbackStep(step)) {
                return true;
            }
        }
        return false;
    }

    /** The piece test of byte_fallback.rs: six characters, {@code <0x}, two hex digits, {@code >}. */
    private static void put(Map<Long, Byte> bytes, String piece, long id) {
        if (piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">")) {
            try {
                int value = Integer.parseInt(piece.substring(3, 5), 16);
                if (value >= 0) { // Rust's u8 parse refuses "-1" as Java's int parse does not
                    bytes.put(id, (byte) value);
                }
            } catch (NumberFormatException e) {
                // not a byte token, e.g. <0xZZ>: the decoder keeps it as text
            }
        }
    }
}
