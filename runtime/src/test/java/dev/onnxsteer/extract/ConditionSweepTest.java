package dev.onnxsteer.extract;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The grid {@code sweep --condition} searches, on held-out similarities written by hand. */
class ConditionSweepTest {
    @Test
    void separatedSidesGetFullF1AtTheMiddleOfTheWidestRunOfThresholds() {
        // positives 0.10, 0.20 below negatives 0.41, 0.50: "below t" separates them for t = 0.25 .. 0.40
        ConditionSweep.LayerResult layer = ConditionSweep.layer(new ConditionCalibration.Separation(2,
                new double[] {0.10, 0.20}, new double[] {0.41, 0.50}), 0.05);
        ConditionSweep.Choice below = layer.below();
        assertEquals(1.0, below.cell().f1(), 1e-12);
        assertEquals(0.30, below.cell().threshold(), 1e-9);
        assertEquals(0.15, below.margin(), 1e-9);
        assertEquals(below, layer.best());
        // firing above a threshold can at best fire on everything: precision 1/2, recall 1
        ConditionSweep.Cell above = layer.above().cell();
        assertEquals(0.5, above.precision(), 1e-12);
        assertEquals(1.0, above.recall(), 1e-12);
        assertEquals(2.0 / 3, above.f1(), 1e-12);
    }

    @Test
    void countsEachKindOfMistake() {
        // above 0.35: positives 0.3 (missed), 0.6 (hit); negatives 0.4 (false alarm), 0.1 (right)
        ConditionSweep.LayerResult layer = ConditionSweep.layer(new ConditionCalibration.Separation(0,
                new double[] {0.3, 0.6}, new double[] {0.4, 0.1}), 0.05);
        ConditionSweep.Cell cell = layer.grid().stream().filter(c -> c.comparator().equals("above")
                && Math.abs(c.threshold() - 0.35) < 1e-9).findFirst().orElseThrow();
        assertEquals(1, cell.truePositives());
        assertEquals(1, cell.falseNegatives());
        assertEquals(1, cell.falsePositives());
        assertEquals(1, cell.trueNegatives());
        assertEquals(0.5, cell.f1(), 1e-12);
    }
}
