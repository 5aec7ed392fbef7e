package dev.onnxsteer.extract;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The threshold and comparator {@code extract --condition} prints, on similarities written by hand. */
class ConditionCalibrationTest {
    @Test
    void positivesBelowTheNegativesFireBelowHalfwayAcrossTheGap() {
        ConditionCalibration.Separation s = new ConditionCalibration.Separation(3, new double[] {0.30, 0.38},
                new double[] {0.42, 0.50});
        assertEquals("below", s.comparator());
        assertEquals(0.04, s.gap(), 1e-12);
        assertEquals(0.40, s.threshold(), 1e-12);
    }

    @Test
    void positivesAboveFireAboveAndAnOverlapIsANegativeGap() {
        ConditionCalibration.Separation s = new ConditionCalibration.Separation(1, new double[] {0.6, 0.9},
                new double[] {0.1, 0.7});
        assertEquals("above", s.comparator());
        assertEquals(-0.1, s.gap(), 1e-12);
        assertEquals(0.65, s.threshold(), 1e-12);
    }

    @Test
    void similarityIsTheCosineOfTheStateWithItsSquashedProjection() {
        // c along x: P h = (h_x, 0), tanh gives (tanh h_x, 0), whose cosine with h is h_x / |h| (for h_x > 0)
        float[] c = {2, 0};
        assertEquals(3 / 5.0, ConditionCalibration.similarity(c, new double[] {3, 4}), 1e-12);
        assertEquals(3 / 5.0, ConditionCalibration.similarity(c, new double[] {-3, 4}), 1e-12, "the sign of c.h cancels");
    }
}
