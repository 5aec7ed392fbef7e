package dev.onnxsteer.generate;

import java.util.Arrays;
import java.util.Objects;
import java.util.random.RandomGenerator;

/**
 * Picks the next token from one row of logits. Implementations may overwrite {@code logits}
 * (the generator passes a scratch copy). Temperature, top-k and top-p wrap another sampler and
 * edit the logits before handing them on, so they compose: {@code temperature(0.8, topK(40,
 * topP(0.9, categorical(rng))))} applies them in the Hugging Face order.
 */
@FunctionalInterface
public interface Sampler {
    /** The chosen token id. */
    int sample(float[] logits);

    /** The highest logit; the lowest index wins a tie. */
    static Sampler greedy() {
        return Sampler::argmax;
    }

    /** Draws from softmax(logits) with {@code random}; -infinity logits are never drawn. */
    static Sampler categorical(RandomGenerator random) {
        Objects.requireNonNull(random, "random");
        return logits -> {
            float max = logits[argmax(logits)];
            double[] weights = new double[logits.length];
            double total = 0;
            for (int i = 0; i < logits.length; i++) {
                double w = logits[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(logits[i] - max);
                weights[i] = w;
                total += w;
            }
            double target = random.nextDouble() * total;
            double sum = 0;
            int last = 0;
            for (int i = 0; i < weights.length; i++) {
                if (weights[i] > 0) {
                    sum += weights[i];
                    last = i;
                    if (sum > target) {
                        return i;
                    }
                }
            }
            return last;
        };
    }

    /** Divides the logits by {@code temperature} (> 0) before {@code next}. */
    static Sampler temperature(double temperature, Sampler next) {
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be > 0 here, got " + temperature
                    + " (use greedy() for temperature 0)");
        }
        return logits -> {
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) (logits[i] / temperature);
            }
            return next.sample(logits);
        };
    }

    /** Keeps exactly the {@code k} highest logits (ties broken by lower index), sets the rest to -infinity, then {@code next}. */
    static Sampler topK(int k, Sampler next) {
        if (k < 1) {
            throw new IllegalArgumentException("top-k must be >= 1, got " + k);
        }
        return logits -> {
            if (k < logits.length) {
                Integer[] order = descending(logits);
                for (int rank = k; rank < order.length; rank++) {
                    logits[order[rank]] = Float.NEGATIVE_INFINITY;
                }
            }
            return next.sample(logits);
        };
    }

    /**
     * Keeps the smallest set of highest-probability tokens whose probability mass is at least
     * {@code p} (0 < p <= 1; always at least one token), sets the rest to -infinity, then {@code next}.
     */
    static Sampler topP(double p, Sampler next) {
        if (!(p > 0 && p <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + p);
        }
        return logits -> {
            Integer[] order = descending(logits);
            float max = logits[order[0]];
            double[] probs = new double[order.length];
            double total = 0;
            for (int rank = 0; rank < order.length; rank++) {
                float value = logits[order[rank]];
                probs[rank] = value == Float.NEGATIVE_INFINITY ? 0 : Math.exp(value - max);
                total += probs[rank];
            }
            double mass = 0;
            int keep = order.length;
            for (int rank = 0; rank < order.length; rank++) {
                mass += probs[rank] / total;
                if (mass >= p - 1e-12) {
                    keep = rank + 1;
                    break;
                }
            }
            for (int rank = keep; rank < order.length; rank++) {
                logits[order[rank]] = Float.NEGATIVE_INFINITY;
            }
            return next.sample(logits);
        };
    }

    /** Index of the largest value; the lowest index wins a tie; NaN is never chosen unless all are NaN. */
    static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best] || Float.isNaN(logits[best])) {
                best = i;
            }
        }
        return best;
    }

    private static Integer[] descending(float[] logits) {
        Integer[] order = new Integer[logits.length];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, (a, b) -> {
            int byValue = Float.compare(logits[b], logits[a]);
            return byValue != 0 ? byValue : Integer.compare(a, b);
        });
        return order;
    }
}
