package dev.onnxsteer.extract;

import dev.onnxsteer.capture.PromptActivations;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;

/**
 * Which layer separates the concept best: the dataset is split (seeded shuffle) into training and
 * held-out pairs; a vector is extracted per layer from the training pairs, and every held-out activation
 * is scored by its projection on that vector, measured from the midpoint of the two training class means.
 * A layer reports the accuracy of the score's sign (positive side above zero, negative below) and the gap
 * between the classes' mean scores in units of their pooled standard deviation (Cohen's d).
 */
public final class Sweep {
    private Sweep() {}

    /**
     * One layer's separation on the held-out pairs.
     *
     * @param accuracy fraction of held-out activations on the right side of the midpoint (0.5 is chance)
     * @param gap      (mean positive score - mean negative score) / pooled standard deviation; infinite when
     *                 the scores have no spread
     * @param positiveMean mean score of held-out positives
     * @param negativeMean mean score of held-out negatives
     */
    public record LayerSeparation(int layer, double accuracy, double gap, double positiveMean, double negativeMean,
            double vectorNorm, double activationNorm) {}

    /**
     * @param train   pairs the vectors came from
     * @param heldOut pairs they were scored on
     * @param samples scored activations (both classes)
     */
    public record Result(Method method, List<LayerSeparation> layers, int train, int heldOut, long samples) {
        public Result {
            layers = List.copyOf(layers);
        }

        /** The layer with the largest gap (ties: higher accuracy, then lower layer). */
        public LayerSeparation best() {
            LayerSeparation best = layers.get(0);
            for (LayerSeparation s : layers) {
                if (s.gap() > best.gap() || (s.gap() == best.gap() && s.accuracy() > best.accuracy())) {
                    best = s;
                }
            }
            return best;
        }
    }

    /** The held-out pair indices: a seeded shuffle, the last {@code round(holdout * n)} (at least 1) held out. */
    public static BitSet heldOutIndices(int size, double holdout, long seed) {
        if (!(holdout > 0 && holdout < 1)) {
            throw new IllegalArgumentException("--holdout must be between 0 and 1 (exclusive), got " + holdout);
        }
        if (size < 2) {
            throw new IllegalArgumentException("a sweep needs at least 2 pairs (some to train on, some to hold out), got "
                    + size);
        }
        int held = (int) Math.max(1, Math.min(size - 1, Math.round(holdout * size)));
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            order.add(i);
        }
        java.util.Collections.shuffle(order, new Random(seed));
        BitSet out = new BitSet(size);
        for (int i = size - held; i < size; i++) {
            out.set(order.get(i));
        }
        return out;
    }

    /** The two parts of a dataset a sweep uses. */
    public record Split(ContrastiveDataset train, ContrastiveDataset heldOut) {}

    /** {@code data} split by {@link #heldOutIndices}: the held-out pairs and the rest, each in dataset order. */
    public static Split split(ContrastiveDataset data, double holdout, long seed) {
        BitSet heldOut = heldOutIndices(data.size(), holdout, seed);
        BitSet train = new BitSet(data.size());
        train.set(0, data.size());
        train.andNot(heldOut);
        return new Split(data.subset(train), data.subset(heldOut));
    }

    /** Runs the sweep over every layer the extractor's capture reads. */
    public static Result run(Extractor extractor, ContrastiveDataset data, ExtractionOptions options, double holdout,
            long seed, ExtractionProgress progress) {
        if (options.method() == Method.DIFF) {
            throw new IllegalArgumentException("--method diff takes one pair; a sweep trains on many: use mean, pca or "
                    + "pca-center");
        }
        Split split = split(data, holdout, seed);
        ContrastiveDataset trainSet = split.train();
        ContrastiveDataset testSet = split.heldOut();
        int total = data.size();
        Extractor.Statistics stats = extractor.accumulate(trainSet, options,
                (done, n) -> progress.pairsDone(done, total));
        List<Integer> layers = extractor.capture().layers();
        int count = layers.size();
        double[][] direction = new double[count][];
        double[] offset = new double[count];
        double[] norms = new double[count];
        for (int i = 0; i < count; i++) {
            LayerAccumulator acc = stats.layers.get(i);
            double[] v = acc.vector();
            norms[i] = Math.sqrt(PrincipalComponent.dot(v, v));
            PrincipalComponent.normalize(v);
            direction[i] = v;
            double[] p = acc.positiveMean();
            double[] n = acc.negativeMean();
            double[] mid = new double[v.length];
            for (int k = 0; k < v.length; k++) {
                mid[k] = (p[k] + n[k]) / 2;
            }
            offset[i] = PrincipalComponent.dot(mid, v);
        }
        Score[] positive = new Score[count];
        Score[] negative = new Score[count];
        for (int i = 0; i < count; i++) {
            positive[i] = new Score();
            negative[i] = new Score();
        }
        int trained = trainSet.size();
        extractor.forEachPair(testSet, options, (done, n) -> progress.pairsDone(trained + done, total),
                (pair, pos, neg) -> {
                    for (int i = 0; i < count; i++) {
                        score(pos, i, direction[i], offset[i], positive[i], true);
                        score(neg, i, direction[i], offset[i], negative[i], false);
                    }
                });
        List<LayerSeparation> out = new ArrayList<>();
        long samples = 0;
        for (int i = 0; i < count; i++) {
            Score p = positive[i];
            Score n = negative[i];
            samples = p.n + n.n;
            double accuracy = (double) (p.correct + n.correct) / (p.n + n.n);
            double spread = Math.sqrt((p.variance() + n.variance()) / 2);
            double difference = p.mean() - n.mean();
            double gap = spread > 0 ? difference / spread : difference == 0 ? 0 : Math.copySign(Double.POSITIVE_INFINITY, difference);
            out.add(new LayerSeparation(layers.get(i), accuracy, gap, p.mean(), n.mean(), norms[i],
                    stats.layers.get(i).activationNorm()));
        }
        return new Result(options.method(), out, trainSet.size(), testSet.size(), samples);
    }

    private static void score(PromptActivations prompt, int index, double[] direction, double offset, Score into,
            boolean positive) {
        for (float[] x : prompt.at(index)) {
            double s = -offset;
            for (int k = 0; k < direction.length; k++) {
                s += x[k] * direction[k];
            }
            into.add(s, positive ? s > 0 : s < 0);
        }
    }

    /** Running mean and variance (Welford) of scores, and how many were on the right side. */
    private static final class Score {
        long n;
        long correct;
        double mean;
        double m2;

        void add(double s, boolean right) {
            n++;
            if (right) {
                correct++;
            }
            double delta = s - mean;
            mean += delta / n;
            m2 += delta * (s - mean);
        }

        double mean() {
            return mean;
        }

        double variance() {
            return n < 2 ? 0 : m2 / (n - 1);
        }
    }
}
