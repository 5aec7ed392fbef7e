package dev.onnxsteer.quant;

/**
 * How far a requantised weight is from the float32 values an edit asked for: the largest absolute difference,
 * and the largest difference in units of the scale of the element's block or channel (rounding alone gives at
 * most 0.5; more means the scale had to grow). Lossless when every element is exactly representable.
 */
public record RequantisationError(double maxAbs, double maxSteps) {
    /** {@code wanted} against {@code stored}, each element measured against {@code scaleOf[i]}. */
    static RequantisationError of(float[] wanted, float[] stored, float[] scaleOf) {
        double maxAbs = 0;
        double maxSteps = 0;
        for (int i = 0; i < wanted.length; i++) {
            double d = Math.abs((double) stored[i] - wanted[i]);
            maxAbs = Math.max(maxAbs, d);
            if (d > 0) {
                maxSteps = Math.max(maxSteps, scaleOf[i] == 0 ? Double.POSITIVE_INFINITY : d / Math.abs(scaleOf[i]));
            }
        }
        return new RequantisationError(maxAbs, maxSteps);
    }

    public boolean lossless() {
        return maxAbs == 0;
    }

    /** {@code 0.0123 (0.50 of its scale)}: the largest difference, absolute and in scale steps. */
    public String describe() {
        return String.format(java.util.Locale.ROOT, "%.3g (%.2f of its scale)", maxAbs, maxSteps);
    }

    /** The worse of two errors (a weight stored in several tensors, a report over many weights). */
    public RequantisationError max(RequantisationError other) {
        return new RequantisationError(Math.max(maxAbs, other.maxAbs), Math.max(maxSteps, other.maxSteps));
    }
}
