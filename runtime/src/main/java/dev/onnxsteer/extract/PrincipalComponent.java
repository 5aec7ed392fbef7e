package dev.onnxsteer.extract;

import java.util.ArrayList;
import java.util.List;

/**
 * A streaming accumulator for the first principal component of a set of vectors. It keeps the rows
 * while there are fewer of them than dimensions and then folds them into the second-moment matrix, so
 * memory is at most {@code min(n, d) * d} values whatever the number of rows; the component is found by
 * power iteration on the (optionally centred) covariance.
 */
public final class PrincipalComponent {
    private static final int MAX_ITERATIONS = 10_000;
    private static final double TOLERANCE = 1e-12;

    private final int dimension;
    private final List<double[]> rows = new ArrayList<>();
    private double[] moments; // row-major d*d sum of x x^T once rows are folded in
    private final double[] sum;
    private double squares;
    private long count;

    public PrincipalComponent(int dimension) {
        if (dimension <= 0) {
            throw new IllegalArgumentException("dimension must be positive, got " + dimension);
        }
        this.dimension = dimension;
        this.sum = new double[dimension];
    }

    public int dimension() {
        return dimension;
    }

    public long count() {
        return count;
    }

    /** Adds one row. */
    public void add(double[] x) {
        if (x.length != dimension) {
            throw new IllegalArgumentException("row has " + x.length + " values, expected " + dimension);
        }
        count++;
        for (int i = 0; i < dimension; i++) {
            sum[i] += x[i];
            squares += x[i] * x[i];
        }
        if (moments == null) {
            rows.add(x.clone());
            if (rows.size() >= dimension) {
                moments = new double[dimension * dimension];
                rows.forEach(this::fold);
                rows.clear();
            }
        } else {
            fold(x);
        }
    }

    private void fold(double[] x) {
        for (int i = 0; i < dimension; i++) {
            double xi = x[i];
            if (xi == 0) {
                continue;
            }
            int base = i * dimension;
            for (int j = 0; j < dimension; j++) {
                moments[base + j] += xi * x[j];
            }
        }
    }

    /** The mean of the rows added so far. */
    public double[] mean() {
        double[] mean = new double[dimension];
        for (int i = 0; i < dimension; i++) {
            mean[i] = count == 0 ? 0 : sum[i] / count;
        }
        return mean;
    }

    /**
     * The unit eigenvector of the largest eigenvalue of the covariance ({@code centred}: about the mean,
     * as PCA; otherwise about the origin), or an empty result when the rows have no spread at all.
     * Its sign is arbitrary; the caller orients it.
     */
    public Component first(boolean centred) {
        if (count == 0) {
            return new Component(new double[dimension], 0);
        }
        double[] mean = centred ? mean() : new double[dimension];
        double[] v = new double[dimension];
        // deterministic start that is not orthogonal to any particular axis
        java.util.Random random = new java.util.Random(0x5eed);
        for (int i = 0; i < dimension; i++) {
            v[i] = random.nextGaussian();
        }
        normalize(v);
        double lambda = 0;
        double[] w = new double[dimension];
        for (int iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
            multiply(v, mean, w);
            double norm = Math.sqrt(dot(w, w));
            if (norm == 0) {
                return new Component(new double[dimension], 0);
            }
            lambda = dot(v, w);
            if (lambda <= 1e-9 * squares / count) {
                return new Component(new double[dimension], 0); // no spread beyond rounding
            }
            for (int i = 0; i < dimension; i++) {
                w[i] /= norm;
            }
            double change = 0;
            for (int i = 0; i < dimension; i++) {
                change = Math.max(change, Math.abs(Math.abs(w[i]) - Math.abs(v[i])));
            }
            double[] t = v;
            v = w;
            w = t;
            if (change < TOLERANCE && iteration > 2) {
                break;
            }
        }
        return new Component(v, lambda);
    }

    /**
     * A principal direction and the variance along it.
     *
     * @param direction unit length, or all zeros when the rows have no spread
     * @param variance  the eigenvalue (covariance normalised by the row count)
     */
    public record Component(double[] direction, double variance) {
        public boolean isZero() {
            return variance <= 0;
        }
    }

    /** {@code out = C v} with {@code C = (1/n) sum (x - m)(x - m)^T}. */
    private void multiply(double[] v, double[] mean, double[] out) {
        java.util.Arrays.fill(out, 0);
        if (moments != null) {
            for (int i = 0; i < dimension; i++) {
                int base = i * dimension;
                double acc = 0;
                for (int j = 0; j < dimension; j++) {
                    acc += moments[base + j] * v[j];
                }
                out[i] = acc;
            }
        } else {
            for (double[] x : rows) {
                double p = dot(x, v);
                for (int i = 0; i < dimension; i++) {
                    out[i] += p * x[i];
                }
            }
        }
        // (1/n) sum x x^T v - m (m . v), since sum (x-m)(x-m)^T = sum x x^T - n m m^T
        double mv = dot(mean, v);
        for (int i = 0; i < dimension; i++) {
            out[i] = out[i] / count - mean[i] * mv;
        }
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    static void normalize(double[] v) {
        double n = Math.sqrt(dot(v, v));
        if (n > 0) {
            for (int i = 0; i < v.length; i++) {
                v[i] /= n;
            }
        }
    }
}
