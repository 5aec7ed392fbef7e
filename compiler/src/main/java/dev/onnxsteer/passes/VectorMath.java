package dev.onnxsteer.passes;

/** The arithmetic on steering vectors the passes share: norms, scaling, unit directions (in double). */
public final class VectorMath {
    private VectorMath() {}

    public static double norm(float[] v) {
        double sum = 0;
        for (float x : v) {
            sum += (double) x * x;
        }
        return Math.sqrt(sum);
    }

    static float[] scaled(float[] v, double factor) {
        float[] out = new float[v.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (factor * v[i]);
        }
        return out;
    }

    /** {@code v / |v|} rounded to float32 (the direction constant a graph carries). */
    public static float[] unit(float[] v) {
        double n = norm(v);
        float[] out = new float[v.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (v[i] / n);
        }
        return out;
    }

    /** {@code v / |v|} in double, for maths that rounds once at the end (weight orthogonalisation). */
    static double[] unitExact(float[] v) {
        double n = norm(v);
        double[] r = new double[v.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = v[i] / n;
        }
        return r;
    }
}
