package dev.onnxsteer.extract;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Which condition layer, threshold and comparator tell the two sides of a dataset apart on prompts the
 * vector never saw. The dataset is split as {@link Sweep} splits it (seeded); condition vectors are
 * extracted from the training pairs; every held-out prompt is scored as {@code compile --condition}
 * scores it ({@link ConditionCalibration#similarity}), and for every layer, comparator and threshold on
 * a regular grid the held-out positives are the prompts that should fire: precision, recall and F1, as
 * activation-steering's {@code find_best_condition_point} grid-searches them.
 */
public final class ConditionSweep {
    private ConditionSweep() {}

    public static final String ABOVE = "above";
    public static final String BELOW = "below";

    /** One grid point: the condition {@code similarity > threshold} ({@code above}) or {@code <} ({@code below}). */
    public record Cell(int layer, String comparator, double threshold, int truePositives, int falsePositives,
            int falseNegatives, int trueNegatives) {
        /** Share of the prompts that fire that should; 0 when none fires. */
        public double precision() {
            int fired = truePositives + falsePositives;
            return fired == 0 ? 0 : (double) truePositives / fired;
        }

        /** Share of the prompts that should fire that do. */
        public double recall() {
            int positives = truePositives + falseNegatives;
            return positives == 0 ? 0 : (double) truePositives / positives;
        }

        public double f1() {
            double p = precision();
            double r = recall();
            return p + r == 0 ? 0 : 2 * p * r / (p + r);
        }
    }

    /**
     * The best threshold of one layer and comparator.
     *
     * @param cell   the middle of the widest run of thresholds that reach the best F1
     * @param margin how wide that run is (in similarity units): how far the threshold can move without a
     *               held-out prompt changing side
     */
    public record Choice(Cell cell, double margin) {}

    /**
     * One layer on the held-out prompts.
     *
     * @param grid every cell, {@code above} then {@code below}, thresholds ascending
     */
    public record LayerResult(int layer, ConditionCalibration.Separation heldOut, List<Cell> grid, Choice above,
            Choice below) {
        public LayerResult {
            grid = List.copyOf(grid);
        }

        public Choice best() {
            return better(above, below) ? above : below;
        }
    }

    /**
     * @param vectors the condition vectors, extracted from the training pairs only
     * @param train   pairs the vectors came from
     * @param heldOut pairs the cells were scored on
     */
    public record Result(Extraction vectors, List<LayerResult> layers, int train, int heldOut, double step) {
        public Result {
            layers = List.copyOf(layers);
        }

        /** The best choice of every layer's: highest F1, then widest margin, then lowest layer. */
        public Choice best() {
            Choice best = null;
            for (LayerResult layer : layers) {
                Choice c = layer.best();
                best = best == null || better(c, best) ? c : best;
            }
            return best;
        }
    }

    /** Extracts on the training split and grid-searches every layer the extractor's capture reads. */
    public static Result run(Extractor extractor, ContrastiveDataset data, ExtractionOptions options, String modelHash,
            double holdout, long seed, double step, ExtractionProgress progress) {
        if (!(step > 0 && step < 1)) {
            throw new IllegalArgumentException("--threshold-step must be between 0 and 1 (exclusive), got " + step);
        }
        Sweep.Split split = Sweep.split(data, holdout, seed);
        ContrastiveDataset trainSet = split.train();
        ContrastiveDataset testSet = split.heldOut();
        int total = data.size();
        Extraction extraction = extractor.extract(trainSet, options, modelHash, (done, n) -> progress.pairsDone(done, total));
        int trained = trainSet.size();
        Map<Integer, ConditionCalibration.Separation> scores = ConditionCalibration.measure(extractor, testSet, options,
                extraction.vectors().layers(), (done, n) -> progress.pairsDone(trained + done, total));
        List<LayerResult> layers = new ArrayList<>();
        for (ConditionCalibration.Separation s : scores.values()) {
            layers.add(layer(s, step));
        }
        return new Result(extraction, layers, trainSet.size(), testSet.size(), step);
    }

    /** Every cell of one layer's held-out scores, thresholds every {@code step} across the scores' range. */
    public static LayerResult layer(ConditionCalibration.Separation scores, double step) {
        double low = Math.min(scores.positiveMin(), scores.negativeMin());
        double high = Math.max(scores.positiveMax(), scores.negativeMax());
        long first = (long) Math.floor(low / step) - 1;
        long last = (long) Math.ceil(high / step) + 1;
        List<Cell> above = new ArrayList<>();
        List<Cell> below = new ArrayList<>();
        for (long k = first; k <= last; k++) {
            double threshold = k * step;
            above.add(cell(scores, ABOVE, threshold));
            below.add(cell(scores, BELOW, threshold));
        }
        List<Cell> grid = new ArrayList<>(above);
        grid.addAll(below);
        return new LayerResult(scores.layer(), scores, grid, choose(above, step), choose(below, step));
    }

    private static Cell cell(ConditionCalibration.Separation scores, String comparator, double threshold) {
        int tp = 0;
        int fn = 0;
        for (double s : scores.positive()) {
            if (fires(s, comparator, threshold)) {
                tp++;
            } else {
                fn++;
            }
        }
        int fp = 0;
        int tn = 0;
        for (double s : scores.negative()) {
            if (fires(s, comparator, threshold)) {
                fp++;
            } else {
                tn++;
            }
        }
        return new Cell(scores.layer(), comparator, threshold, tp, fp, fn, tn);
    }

    /** Strict, as the compiled graph's {@code Greater} / {@code Less}. */
    private static boolean fires(double similarity, String comparator, double threshold) {
        return ABOVE.equals(comparator) ? similarity > threshold : similarity < threshold;
    }

    /** The middle of the widest run of consecutive thresholds at the best F1 (the first such run on a tie). */
    private static Choice choose(List<Cell> cells, double step) {
        double bestF1 = cells.stream().mapToDouble(Cell::f1).max().orElseThrow();
        int bestStart = -1;
        int bestLength = 0;
        int start = -1;
        for (int i = 0; i <= cells.size(); i++) {
            boolean at = i < cells.size() && cells.get(i).f1() == bestF1;
            if (at && start < 0) {
                start = i;
            } else if (!at && start >= 0) {
                if (i - start > bestLength) {
                    bestStart = start;
                    bestLength = i - start;
                }
                start = -1;
            }
        }
        return new Choice(cells.get(bestStart + (bestLength - 1) / 2), (bestLength - 1) * step);
    }

    /** Higher F1, then the wider margin, then the lower layer. */
    public static boolean better(Choice a, Choice b) {
        if (a.cell().f1() != b.cell().f1()) {
            return a.cell().f1() > b.cell().f1();
        }
        if (a.margin() != b.margin()) {
            return a.margin() > b.margin();
        }
        return a.cell().layer() < b.cell().layer();
    }
}
