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

    /**
     * After the prefill of a model compiled with a steering condition: whether row {@code row}'s prompt met
     * it (the graph's own decision, {@code steer_condition_present}); not called for other models.
     */
    default void onCondition(int row, boolean met) {
    }
}
