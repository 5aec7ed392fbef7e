package dev.onnxsteer.generate;

import java.util.OptionalLong;
import java.util.SplittableRandom;

/**
 * How tokens are chosen.
 *
 * @param temperature       0 = greedy; otherwise logits are divided by it before sampling
 * @param topK              keep the k most likely tokens; 0 = off
 * @param topP              keep the smallest set with mass >= p; 1 = off
 * @param repetitionPenalty HF repetition penalty; 1 = off
 * @param seed              RNG seed; empty = a fresh seed per run. Every row of a batch gets its own
 *                          RNG with this seed, so a row samples the same tokens alone or in a batch.
 */
public record SamplingConfig(double temperature, int topK, double topP, double repetitionPenalty, OptionalLong seed) {
    public static final SamplingConfig GREEDY = new SamplingConfig(0, 0, 1, 1, OptionalLong.empty());

    public SamplingConfig {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition penalty must be > 0, got " + repetitionPenalty);
        }
        seed = seed == null ? OptionalLong.empty() : seed;
    }

    /** Temperature sampling with the given seed, no top-k/top-p/penalty. */
    public static SamplingConfig temperature(double temperature, long seed) {
        return new SamplingConfig(temperature, 0, 1, 1, OptionalLong.of(seed));
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    /** A sampler for one row: greedy, or temperature -> top-k -> top-p -> categorical with its own RNG seeded by {@code seed}. */
    public Sampler newSampler(long runSeed) {
        if (isGreedy()) {
            return Sampler.greedy();
        }
        Sampler sampler = Sampler.categorical(new SplittableRandom(seed.orElse(runSeed)));
        if (topP < 1) {
            sampler = Sampler.topP(topP, sampler);
        }
        if (topK > 0) {
            sampler = Sampler.topK(topK, sampler);
        }
        return Sampler.temperature(temperature, sampler);
    }
}
