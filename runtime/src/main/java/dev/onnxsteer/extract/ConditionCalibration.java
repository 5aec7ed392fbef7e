package dev.onnxsteer.extract;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * How well condition vectors separate the two sides of a dataset, and the threshold that does it. Each
 * prompt's aggregated hidden state h (its one sample, or the mean of its samples) is scored as CAST's
 * condition does, {@code cos(h, tanh(P h))} with {@code P = c c^T / (c . c)}, so the numbers are the ones
 * {@code compile --condition} compares with its threshold. The prompts are run again for this: the
 * vector is only known once every pair has been seen.
 */
public final class ConditionCalibration {
    private ConditionCalibration() {}

    /**
     * One layer's scores.
     *
     * @param positive the similarity of each positive prompt, in dataset order
     * @param negative the similarity of each negative prompt
     */
    public record Separation(int layer, double[] positive, double[] negative) {
        public double positiveMin() {
            return Arrays.stream(positive).min().orElse(Double.NaN);
        }

        public double positiveMax() {
            return Arrays.stream(positive).max().orElse(Double.NaN);
        }

        public double negativeMin() {
            return Arrays.stream(negative).min().orElse(Double.NaN);
        }

        public double negativeMax() {
            return Arrays.stream(negative).max().orElse(Double.NaN);
        }

        /** True when the positives fire {@code above} the threshold (they sit higher), false for {@code below}. */
        public boolean positivesAbove() {
            return positiveMin() - negativeMax() >= negativeMin() - positiveMax();
        }

        /**
         * The distance between the nearest prompts of the two sides along the similarity, on the side the
         * positives sit: positive when a threshold separates them, negative by the overlap when none does.
         */
        public double gap() {
            return positivesAbove() ? positiveMin() - negativeMax() : negativeMin() - positiveMax();
        }

        /** Halfway across the gap (or the overlap): the threshold that leaves both sides the same margin. */
        public double threshold() {
            return positivesAbove() ? (positiveMin() + negativeMax()) / 2 : (positiveMax() + negativeMin()) / 2;
        }

        public String comparator() {
            return positivesAbove() ? "above" : "below";
        }
    }

    /**
     * Scores every prompt of {@code data} against {@code conditions} (one vector per layer of the
     * extractor's capture, as {@link Extractor#extract} returns them).
     */
    public static Map<Integer, Separation> measure(Extractor extractor, ContrastiveDataset data, ExtractionOptions options,
            Map<Integer, float[]> conditions, ExtractionProgress progress) {
        Objects.requireNonNull(conditions, "conditions");
        List<Integer> layers = extractor.capture().layers();
        List<List<Double>> positive = new ArrayList<>();
        List<List<Double>> negative = new ArrayList<>();
        for (int layer : layers) {
            if (!conditions.containsKey(layer)) {
                throw new IllegalArgumentException("no condition vector for captured layer " + layer);
            }
            positive.add(new ArrayList<>());
            negative.add(new ArrayList<>());
        }
        extractor.forEachPair(data, options, progress, (pair, pos, neg) -> {
            for (int i = 0; i < layers.size(); i++) {
                float[] c = conditions.get(layers.get(i));
                positive.get(i).add(similarity(c, aggregate(pos.at(i))));
                negative.get(i).add(similarity(c, aggregate(neg.at(i))));
            }
        });
        Map<Integer, Separation> result = new TreeMap<>();
        for (int i = 0; i < layers.size(); i++) {
            result.put(layers.get(i), new Separation(layers.get(i), unbox(positive.get(i)), unbox(negative.get(i))));
        }
        return result;
    }

    /** {@code cos(h, tanh(P h))} with {@code P = c c^T / (c . c)}: CAST's condition similarity. */
    public static double similarity(float[] c, double[] h) {
        if (c.length != h.length) {
            throw new IllegalArgumentException("condition vector has " + c.length + " values, activation " + h.length);
        }
        double cc = 0;
        double ch = 0;
        for (int i = 0; i < c.length; i++) {
            cc += (double) c[i] * c[i];
            ch += c[i] * h[i];
        }
        double dot = 0;
        double hh = 0;
        double pp = 0;
        for (int i = 0; i < c.length; i++) {
            double p = Math.tanh(c[i] * ch / cc);
            dot += p * h[i];
            hh += h[i] * h[i];
            pp += p * p;
        }
        return hh == 0 || pp == 0 ? 0 : dot / Math.sqrt(hh * pp);
    }

    /** A prompt's samples as one hidden state: the sample itself, or their mean (the graph's {@code mean} aggregate). */
    private static double[] aggregate(float[][] samples) {
        double[] h = new double[samples[0].length];
        for (float[] x : samples) {
            for (int i = 0; i < h.length; i++) {
                h[i] += x[i];
            }
        }
        for (int i = 0; i < h.length; i++) {
            h[i] /= samples.length;
        }
        return h;
    }

    private static double[] unbox(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }
}
