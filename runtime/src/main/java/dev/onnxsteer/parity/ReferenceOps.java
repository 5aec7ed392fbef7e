package dev.onnxsteer.parity;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.HalfFloats;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import java.util.List;

/**
 * The parity checks' own arithmetic, in plain Java and double precision, sharing no code with the
 * compiler's graph rewrites: each steering operation applied to a site tensor, logit differences, and the
 * KL divergence of next-token distributions.
 */
final class ReferenceOps {
    private ReferenceOps() {}

    /**
     * The operation applied in plain Java (double precision) to a {@code [1, seq, hidden]} site value, at
     * the positions {@code options} steers; position t of a single forward pass is t.
     */
    static Forward.Output apply(Forward.Output site, Steering steering, SteerOptions options, long promptLength) {
        float[] values = site.values().clone();
        float[] v = steering.vector();
        int hidden = v.length;
        int seq = values.length / hidden;
        double c = steering.coefficient();
        double[] r = new double[hidden];
        double length = Math.sqrt(RecoveredSteering.dot(v, v));
        for (int i = 0; i < hidden; i++) {
            r[i] = length == 0 ? 0 : v[i] / length;
        }
        for (int t = 0; t < seq; t++) {
            if (!options.positions().steers(t % (long) seq, promptLength)) {
                continue;
            }
            int base = t * hidden;
            double[] x = new double[hidden];
            double xx = 0;
            double xr = 0;
            for (int i = 0; i < hidden; i++) {
                x[i] = values[base + i];
                xx += x[i] * x[i];
                xr += x[i] * r[i];
            }
            double[] y = new double[hidden];
            for (int i = 0; i < hidden; i++) {
                y[i] = switch (options.op()) {
                    case ADD -> x[i] + c * v[i];
                    case ABLATE, ORTHOGONALIZE -> x[i] - xr * r[i];
                    case ABLATE_ADD -> x[i] - xr * r[i] + c * v[i];
                    case CLAMP -> x[i] - xr * r[i] + c * r[i];
                };
            }
            if (options.preserveNorm()) {
                double yy = 0;
                for (double value : y) {
                    yy += value * value;
                }
                double ratio = yy == 0 ? 0 : Math.sqrt(xx) / Math.sqrt(yy);
                for (int i = 0; i < hidden; i++) {
                    y[i] *= ratio;
                }
            }
            for (int i = 0; i < hidden; i++) {
                values[base + i] = (float) y[i];
            }
        }
        return new Forward.Output(site.shape(), values);
    }

    /**
     * {@code site} rounded to the 16-bit {@code type} and moved one unit in the last place of that type away
     * from zero: a rounding the other way at every element.
     */
    static Forward.Output nextUlpAwayFromZero(Forward.Output site, DataType type) {
        float[] values = site.values().clone();
        for (int i = 0; i < values.length; i++) {
            values[i] = switch (type) {
                case FLOAT16 -> HalfFloats.fromFloat16(awayFromZero(HalfFloats.toFloat16(values[i]), 0x7c00));
                case BFLOAT16 -> HalfFloats.fromBfloat16(awayFromZero(HalfFloats.toBfloat16(values[i]), 0x7f80));
                default -> throw new IllegalArgumentException("expected a 16-bit float type, found " + type);
            };
        }
        return new Forward.Output(site.shape(), values);
    }

    /** The next 16-bit pattern of larger magnitude and the same sign; infinity and NaN (all exponent bits) stay. */
    private static short awayFromZero(short bits, int exponentMask) {
        return (bits & exponentMask) == exponentMask ? bits : (short) (bits + 1);
    }

    static double maxDiff(List<float[]> a, List<float[]> b) {
        double max = 0;
        for (int p = 0; p < a.size(); p++) {
            float[] x = a.get(p);
            float[] y = b.get(p);
            for (int i = 0; i < x.length; i++) {
                double d = Math.abs((double) x[i] - y[i]);
                max = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(max, d);
            }
        }
        return max;
    }

    static double maxAbs(List<float[]> values) {
        double max = 0;
        for (float[] row : values) {
            for (float v : row) {
                max = Math.max(max, Math.abs(v));
            }
        }
        return max;
    }

    /** KL(p || q) in nats for the softmax distributions of logits p and q. */
    static double klDivergence(float[] pLogits, float[] qLogits) {
        double[] p = softmax(pLogits);
        double[] q = softmax(qLogits);
        double kl = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                kl += p[i] * (Math.log(p[i]) - Math.log(Math.max(q[i], Double.MIN_NORMAL)));
            }
        }
        return Math.max(0, kl);
    }

    private static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] out = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            out[i] = Math.exp(logits[i] - max);
            sum += out[i];
        }
        for (int i = 0; i < out.length; i++) {
            out[i] /= sum;
        }
        return out;
    }
}
