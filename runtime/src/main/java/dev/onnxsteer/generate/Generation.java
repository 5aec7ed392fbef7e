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
 * @param runMs                 wall time spent inside {@code OrtSession.run} during the whole generate call (shared
 *                              by the rows of a batch): compared with the call's wall time it gives the share of
 *                              time spent outside ONNX Runtime (benchmarks); 0 when not measured
 * @param decodeRunMs           the part of {@code runMs} spent in the runs after the prefill (one per generated token
 *                              after the first), to split a decode step into ONNX Runtime time and Java time
 */
public record Generation(
        String prompt, String text, List<Long> tokenIds, FinishReason finishReason, int promptTokens,
        int generatedTokens, double prefillMs, double decodeTokensPerSecond, double runMs, double decodeRunMs) {
    public Generation {
        tokenIds = List.copyOf(tokenIds);
    }

    /** A result without run timing ({@code runMs} and {@code decodeRunMs} 0). */
    public Generation(String prompt, String text, List<Long> tokenIds, FinishReason finishReason, int promptTokens,
            int generatedTokens, double prefillMs, double decodeTokensPerSecond) {
        this(prompt, text, tokenIds, finishReason, promptTokens, generatedTokens, prefillMs, decodeTokensPerSecond, 0, 0);
    }

    /** The generated ids as an array. */
    public long[] tokenIdArray() {
        return tokenIds.stream().mapToLong(Long::longValue).toArray();
    }
}
