package dev.onnxsteer.gguf;

/** How far quantised weights are from the values they stand for, as the importer reports it and tests bound it. */
public final class QuantisationError {
    private QuantisationError() {}

    /** ||approx - exact|| / ||exact|| (0 when both are all zeros), accumulated in double. */
    public static double relativeRms(float[] exact, float[] approx) {
        if (exact.length != approx.length) {
            throw new IllegalArgumentException("comparing " + exact.length + " values with " + approx.length);
        }
        double err = 0;
        double norm = 0;
        for (int i = 0; i < exact.length; i++) {
            double d = (double) approx[i] - exact[i];
            err += d * d;
            norm += (double) exact[i] * exact[i];
        }
        return norm == 0 ? (err == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(err / norm);
    }
}
