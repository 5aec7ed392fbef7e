package dev.onnxsteer.extract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.capture.Position;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The PCA math on synthetic vectors, with known answers. */
class PrincipalComponentTest {
    static double cosine(double[] a, double[] b) {
        return PrincipalComponent.dot(a, b) / Math.sqrt(PrincipalComponent.dot(a, a) * PrincipalComponent.dot(b, b));
    }

    static double[] randomUnit(Random random, int d) {
        double[] v = new double[d];
        for (int i = 0; i < d; i++) {
            v[i] = random.nextGaussian();
        }
        PrincipalComponent.normalize(v);
        return v;
    }

    @Test
    void findsTheAxisOfLargestVarianceInBothStorageModes() {
        Random random = new Random(1);
        int d = 16;
        double[] axis = randomUnit(random, d);
        for (int n : new int[] {8, 200}) { // fewer rows than dimensions (rows kept), more (folded into a matrix)
            PrincipalComponent pca = new PrincipalComponent(d);
            for (int r = 0; r < n; r++) {
                double[] x = new double[d];
                double along = 5 * random.nextGaussian();
                for (int i = 0; i < d; i++) {
                    x[i] = 3 + along * axis[i] + 0.1 * random.nextGaussian(); // offset: centring must remove it
                }
                pca.add(x);
            }
            double[] found = pca.first(true).direction();
            assertTrue(Math.abs(cosine(found, axis)) > 0.999, n + " rows: cosine " + cosine(found, axis));
            assertEquals(1.0, Math.sqrt(PrincipalComponent.dot(found, found)), 1e-9);
        }
    }

    @Test
    void diagonalCovarianceGivesTheLargestAxisAndItsVariance() {
        PrincipalComponent pca = new PrincipalComponent(3);
        // rows +-(1,0,0), +-(0,3,0), +-(0,0,2): covariance diag(1/3, 3, 4/3)
        double[][] rows = {{1, 0, 0}, {-1, 0, 0}, {0, 3, 0}, {0, -3, 0}, {0, 0, 2}, {0, 0, -2}};
        for (double[] row : rows) {
            pca.add(row);
        }
        PrincipalComponent.Component c = pca.first(true);
        assertEquals(1.0, Math.abs(c.direction()[1]), 1e-9);
        assertEquals(3.0, c.variance(), 1e-9);
    }

    @Test
    void noSpreadIsReportedAsZero() {
        PrincipalComponent pca = new PrincipalComponent(4);
        for (int i = 0; i < 10; i++) {
            pca.add(new double[] {1, 2, 3, 4});
        }
        assertTrue(pca.first(true).isZero());
        assertArrayEquals(new double[] {1, 2, 3, 4}, pca.mean(), 1e-12);
    }

    /** Activations where every pair differs by a positive multiple of one direction plus noise. */
    static void addSyntheticPairs(LayerAccumulator acc, double[] direction, Random random, int pairs, boolean allPositions) {
        int d = direction.length;
        for (int p = 0; p < pairs; p++) {
            double[] base = new double[d];
            for (int i = 0; i < d; i++) {
                base[i] = 4 * random.nextGaussian(); // pairs differ a lot from each other
            }
            double amount = 1 + 2 * random.nextDouble();
            int tokens = allPositions ? 1 + random.nextInt(4) : 1;
            float[][] positive = new float[tokens][d];
            float[][] negative = new float[tokens][d];
            for (int t = 0; t < tokens; t++) {
                for (int i = 0; i < d; i++) {
                    double shared = base[i] + 0.05 * random.nextGaussian();
                    positive[t][i] = (float) (shared + amount * direction[i] + 0.02 * random.nextGaussian());
                    negative[t][i] = (float) shared;
                }
            }
            acc.add(positive, negative);
        }
    }

    @Test
    void pcaMethodsReturnTheSharedDifferenceDirectionSignedTowardsPositives() {
        Random random = new Random(7);
        int d = 32;
        double[] direction = randomUnit(random, d);
        for (Method method : new Method[] {Method.PCA, Method.PCA_CENTER, Method.MEAN}) {
            for (int pairs : new int[] {12, 100}) {
                LayerAccumulator acc = new LayerAccumulator(d, method);
                addSyntheticPairs(acc, direction, random, pairs, method == Method.PCA_CENTER);
                double[] v = acc.vector();
                double cos = cosine(v, direction);
                assertTrue(cos > 0.99, method + " with " + pairs + " pairs: cosine " + cos);
            }
        }
    }

    @Test
    void identicalDifferencesFallBackToTheirDirection() {
        LayerAccumulator acc = new LayerAccumulator(3, Method.PCA);
        for (int i = 0; i < 5; i++) {
            acc.add(new float[][] {{i + 1f, 2, 3}}, new float[][] {{i, 2, 3}});
        }
        assertArrayEquals(new double[] {1, 0, 0}, acc.vector(), 1e-12);
    }

    @Test
    void methodAndPositionNamesParse() {
        assertEquals(Method.PCA_CENTER, Method.parse("pca-center"));
        assertEquals(Position.ALL, Position.parse("all"));
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Method.parse("median"));
        assertTrue(e.getMessage().contains("diff, mean, pca, pca-center, pca-global"), e.getMessage());
    }
}
