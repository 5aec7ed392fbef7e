package dev.onnxsteer.generate;

/** Receives each generated token as it is produced, for streaming. */
@FunctionalInterface
public interface TokenListener {
    TokenListener NONE = (row, tokenId, textPiece) -> { };

    /**
     * @param row       index of the prompt in the batch
     * @param tokenId   the token just generated
     * @param textPiece the new text it completes; may be empty (an incomplete character, or text held
     *                  back because it may start a stop string) or hold text of earlier tokens
     */
    void onToken(int row, long tokenId, String textPiece);
}
