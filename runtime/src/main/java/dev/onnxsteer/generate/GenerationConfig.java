package dev.onnxsteer.generate;

import java.util.List;

/**
 * What to generate.
 *
 * @param maxTokens   most tokens generated per prompt (>= 1)
 * @param sampling    how tokens are chosen
 * @param stopStrings a row stops when its generated text contains one; the text is cut before it
 * @param eosTokenIds ids that end a row; empty = the tokenizer's / model config's EOS ids
 * @param useCache    false runs a KV-cache model by full recompute (empty past, whole sequence each
 *                    step): slower, same tokens; models without cache inputs always recompute
 */
public record GenerationConfig(
        int maxTokens, SamplingConfig sampling, List<String> stopStrings, List<Long> eosTokenIds, boolean useCache) {

    public GenerationConfig {
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max tokens must be >= 1, got " + maxTokens);
        }
        sampling = sampling == null ? SamplingConfig.GREEDY : sampling;
        stopStrings = List.copyOf(stopStrings);
        eosTokenIds = List.copyOf(eosTokenIds);
        for (String stop : stopStrings) {
            if (stop.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
    }

    /** Greedy, {@code maxTokens} tokens, no stop strings, default EOS, with cache. */
    public static GenerationConfig greedy(int maxTokens) {
        return new GenerationConfig(maxTokens, SamplingConfig.GREEDY, List.of(), List.of(), true);
    }

    public GenerationConfig withSampling(SamplingConfig value) {
        return new GenerationConfig(maxTokens, value, stopStrings, eosTokenIds, useCache);
    }

    public GenerationConfig withStopStrings(List<String> value) {
        return new GenerationConfig(maxTokens, sampling, value, eosTokenIds, useCache);
    }

    public GenerationConfig withEosTokenIds(List<Long> value) {
        return new GenerationConfig(maxTokens, sampling, stopStrings, value, useCache);
    }

    public GenerationConfig withUseCache(boolean value) {
        return new GenerationConfig(maxTokens, sampling, stopStrings, eosTokenIds, value);
    }

    public GenerationConfig withMaxTokens(int value) {
        return new GenerationConfig(value, sampling, stopStrings, eosTokenIds, useCache);
    }
}
