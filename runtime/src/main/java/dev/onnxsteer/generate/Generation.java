package dev.onnxsteer.generate;

import java.util.List;

/**
 * The result for one prompt.
 *
 * @param prompt                the prompt text (decoded from ids when generation started from ids)
 * @param text                  the generated text only, cut before a stop string; empty without a tokenizer
 * @param tokenIds              the generated token ids (an EOS that ended the row is not included)
 * @param finishReason          why the row stopped
 * @param promptTokens          number of prompt tokens
 * @param generatedTokens       number of generated tokens ({@code tokenIds.size()})
 * @param prefillMs             wall time of the prefill run (shared by the rows of a batch)
 * @param decodeTokensPerSecond tokens after the first divided by the decode time until the row finished; 0 when undefined
 */
public record Generation(
        String prompt, String text, List<Long> tokenIds, FinishReason finishReason, int promptTokens,
        int generatedTokens, double prefillMs, double decodeTokensPerSecond) {
    public Generation {
        tokenIds = List.copyOf(tokenIds);
    }

    /** The generated ids as an array. */
    public long[] tokenIdArray() {
        return tokenIds.stream().mapToLong(Long::longValue).toArray();
    }
}
