package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
    /** Records what reaches the inner sampler and returns 0. */
    private static final class Capture implements Sampler {
        float[] seen;

        @Override
        public int sample(float[] logits) {
            seen = logits.clone();
            return 0;
        }

        Set<Integer> kept() {
            Set<Integer> kept = new HashSet<>();
            for (int i = 0; i < seen.length; i++) {
                if (seen[i] != Float.NEGATIVE_INFINITY) {
                    kept.add(i);
                }
            }
            return kept;
        }
    }

    @Test
    void greedyTakesTheLargestAndTheFirstOfATie() {
        assertEquals(2, Sampler.greedy().sample(new float[] {0.1f, -3f, 5f, 4.9f}));
        assertEquals(1, Sampler.greedy().sample(new float[] {0f, 7f, 7f}));
    }

    @Test
    void topKKeepsExactlyK() {
        float[] logits = {1f, 9f, 3f, 3f, 7f, -2f, 3f};
        Capture capture = new Capture();
        Sampler.topK(3, capture).sample(logits.clone());
        assertEquals(Set.of(1, 4, 2), capture.kept(), "ties at 3.0 broken by lower index");
        assertEquals(9f, capture.seen[1]);
        Sampler.topK(1, capture).sample(logits.clone());
        assertEquals(Set.of(1), capture.kept());
        Sampler.topK(100, capture).sample(logits.clone());
        assertEquals(7, capture.kept().size());
    }

    @Test
    void topPKeepsTheSmallestPrefixWithEnoughMass() {
        // probabilities 0.5, 0.25, 0.125, 0.125 (logits are log-probabilities)
        float[] logits = {(float) Math.log(0.125), (float) Math.log(0.5), (float) Math.log(0.125),
                (float) Math.log(0.25)};
        Capture capture = new Capture();
        Sampler.topP(0.5, capture).sample(logits.clone());
        assertEquals(Set.of(1), capture.kept(), "0.5 alone reaches p = 0.5");
        Sampler.topP(0.6, capture).sample(logits.clone());
        assertEquals(Set.of(1, 3), capture.kept());
        Sampler.topP(0.75, capture).sample(logits.clone());
        assertEquals(Set.of(1, 3), capture.kept(), "0.5 + 0.25 reaches 0.75 exactly");
        Sampler.topP(0.8, capture).sample(logits.clone());
        assertEquals(Set.of(1, 3, 0), capture.kept(), "the tie at 0.125 is broken by lower index");
        Sampler.topP(1.0, capture).sample(logits.clone());
        assertEquals(4, capture.kept().size());
        Sampler.topP(0.01, capture).sample(logits.clone());
        assertEquals(Set.of(1), capture.kept(), "always at least one token");
    }

    @Test
    void temperatureDividesTheLogits() {
        Capture capture = new Capture();
        Sampler.temperature(2.0, capture).sample(new float[] {4f, -2f, 1f});
        assertArrayEquals(new float[] {2f, -1f, 0.5f}, capture.seen);
        assertThrows(IllegalArgumentException.class, () -> Sampler.temperature(0, capture));
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOnce() {
        float[] logits = {2f, -2f, 4f, -1f, 3f};
        RepetitionPenalty.apply(logits, new long[] {0, 1, 1, 0, 3}, 2.0);
        assertArrayEquals(new float[] {1f, -4f, 4f, -2f, 3f}, logits);
        float[] same = {2f, -2f};
        RepetitionPenalty.apply(same, new long[] {0, 1}, 1.0);
        assertArrayEquals(new float[] {2f, -2f}, same);
    }

    @Test
    void categoricalFollowsTheDistributionAndNeverDrawsMaskedTokens() {
        Sampler sampler = Sampler.categorical(new SplittableRandom(42));
        float[] logits = {0f, (float) Math.log(3), Float.NEGATIVE_INFINITY};
        int[] counts = new int[3];
        for (int i = 0; i < 20000; i++) {
            counts[sampler.sample(logits.clone())]++;
        }
        assertEquals(0, counts[2]);
        assertEquals(0.75, counts[1] / 20000.0, 0.02);
    }

    @Test
    void sameSeedSameDrawsDifferentSeedDifferentDraws() {
        SamplingConfig config = new SamplingConfig(1.0, 5, 0.95, 1.0, OptionalLong.of(3));
        float[] logits = new float[50];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) Math.sin(i);
        }
        List<Integer> a = draws(config.newSampler(0), logits);
        List<Integer> b = draws(config.newSampler(99), logits);
        List<Integer> c = draws(new SamplingConfig(1.0, 5, 0.95, 1.0, OptionalLong.of(4)).newSampler(0), logits);
        assertEquals(a, b, "the configured seed wins over the run seed");
        assertNotEquals(a, c);
        assertTrue(new HashSet<>(a).size() > 1);
        // top-k 5 of sin(i): only the five largest are ever drawn
        Set<Integer> allowed = Set.of(33, 14, 8, 39, 27);
        assertTrue(allowed.containsAll(a), a.toString());
    }

    @Test
    void badSamplingValuesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingConfig(-1, 0, 1, 1, OptionalLong.empty()));
        assertThrows(IllegalArgumentException.class, () -> new SamplingConfig(1, -1, 1, 1, OptionalLong.empty()));
        assertThrows(IllegalArgumentException.class, () -> new SamplingConfig(1, 0, 0, 1, OptionalLong.empty()));
        assertThrows(IllegalArgumentException.class, () -> new SamplingConfig(1, 0, 1, 0, OptionalLong.empty()));
        assertTrue(SamplingConfig.GREEDY.isGreedy());
    }

    private static List<Integer> draws(Sampler sampler, float[] logits) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            out.add(sampler.sample(logits.clone()));
        }
        return out;
    }
}
