package dev.onnxsteer.extract;

/**
 * Streaming statistics of one layer's contrastive activations, enough for every {@link Method}: per-class
 * sums and counts (pooled over samples), the sum of per-pair differences (to orient principal components),
 * the norms of all activations, and for the PCA methods a {@link PrincipalComponent} of the pair
 * differences ({@code pca}), of the activations centred on their pair's mean ({@code pca-center}) or of
 * the activations themselves, centred on their overall mean ({@code pca-global}).
 * A pair's side is the mean of its samples when a side has several ({@code --position all}).
 */
final class LayerAccumulator {
    private final int hidden;
    private final Method method;
    private final double[] positiveSum;
    private final double[] negativeSum;
    private final double[] differenceSum;
    private long positiveCount;
    private long negativeCount;
    private double normSum;
    private long normCount;
    private int pairs;
    private final PrincipalComponent pca;

    LayerAccumulator(int hidden, Method method) {
        this.hidden = hidden;
        this.method = method;
        this.positiveSum = new double[hidden];
        this.negativeSum = new double[hidden];
        this.differenceSum = new double[hidden];
        this.pca = method.isPca() ? new PrincipalComponent(hidden) : null;
    }

    /** Adds one pair: the positive prompt's samples and the negative prompt's samples (one or more rows each). */
    void add(float[][] positive, float[][] negative) {
        double[] p = addSide(positive, positiveSum);
        double[] n = addSide(negative, negativeSum);
        positiveCount += positive.length;
        negativeCount += negative.length;
        pairs++;
        double[] d = new double[hidden];
        for (int i = 0; i < hidden; i++) {
            d[i] = p[i] - n[i];
            differenceSum[i] += d[i];
        }
        if (method == Method.PCA) {
            pca.add(d);
        } else if (method == Method.PCA_CENTER) {
            double[] centre = new double[hidden];
            for (int i = 0; i < hidden; i++) {
                centre[i] = (p[i] + n[i]) / 2;
            }
            for (float[][] side : new float[][][] {positive, negative}) {
                for (float[] x : side) {
                    double[] c = new double[hidden];
                    for (int i = 0; i < hidden; i++) {
                        c[i] = x[i] - centre[i];
                    }
                    pca.add(c);
                }
            }
        } else if (method == Method.PCA_GLOBAL) {
            // PrincipalComponent centres on the mean of all rows itself
            for (float[][] side : new float[][][] {positive, negative}) {
                for (float[] x : side) {
                    double[] row = new double[hidden];
                    for (int i = 0; i < hidden; i++) {
                        row[i] = x[i];
                    }
                    pca.add(row);
                }
            }
        }
    }

    /** Adds a side's rows to {@code sum} and the norm statistics; returns the side's mean row. */
    private double[] addSide(float[][] rows, double[] sum) {
        if (rows.length == 0) {
            throw new IllegalArgumentException("a prompt produced no activations");
        }
        double[] mean = new double[hidden];
        for (float[] x : rows) {
            if (x.length != hidden) {
                throw new IllegalArgumentException("activation has " + x.length + " values, expected " + hidden);
            }
            double squares = 0;
            for (int i = 0; i < hidden; i++) {
                sum[i] += x[i];
                mean[i] += x[i];
                squares += (double) x[i] * x[i];
            }
            normSum += Math.sqrt(squares);
            normCount++;
        }
        for (int i = 0; i < hidden; i++) {
            mean[i] /= rows.length;
        }
        return mean;
    }

    int pairs() {
        return pairs;
    }

    /** The mean norm of every activation seen (both classes): the typical scale of this layer. */
    double activationNorm() {
        return normCount == 0 ? 0 : normSum / normCount;
    }

    double[] positiveMean() {
        return scaled(positiveSum, positiveCount);
    }

    double[] negativeMean() {
        return scaled(negativeSum, negativeCount);
    }

    /** The vector this layer's statistics give for the method (before any normalisation). */
    double[] vector() {
        if (!method.isPca()) {
            double[] p = positiveMean();
            double[] n = negativeMean();
            double[] v = new double[hidden];
            for (int i = 0; i < hidden; i++) {
                v[i] = p[i] - n[i];
            }
            return v;
        }
        PrincipalComponent.Component component = pca.first(true);
        double[] direction = component.direction();
        if (component.isZero()) {
            // no spread: every difference is the same vector (or all are zero); its direction is the answer
            direction = differenceSum.clone();
            PrincipalComponent.normalize(direction);
            return direction;
        }
        if (PrincipalComponent.dot(direction, differenceSum) < 0) {
            for (int i = 0; i < hidden; i++) {
                direction[i] = -direction[i];
            }
        }
        return direction;
    }

    private static double[] scaled(double[] sum, long count) {
        double[] out = new double[sum.length];
        for (int i = 0; i < sum.length; i++) {
            out[i] = count == 0 ? 0 : sum[i] / count;
        }
        return out;
    }
}
