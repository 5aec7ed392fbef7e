package dev.onnxsteer.vectors;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.io.FileProblem;
import java.util.Locale;

/**
 * How large a vector read from a file may be before it is taken for a corrupted one. A flipped exponent bit
 * turns 0.5 into 1e38, which is finite, compiles, and silences the model; no extraction makes such a vector.
 *
 * <p>Where the file records the model's typical activation norm at the layer ({@code onnx_steer.activation_norm.L},
 * written by {@code extract}), a layer's vector may be at most {@link #RELATIVE_FACTOR} times that norm (but
 * never held below {@link #RELATIVE_FLOOR}, so a unit-normalised direction always passes); otherwise its L2
 * norm may be at most {@link #ABSOLUTE_MAX_NORM}, far above the residual norms of the models people steer.
 */
public final class VectorBounds {
    public static final double ABSOLUTE_MAX_NORM = 1e5;
    public static final double RELATIVE_FACTOR = 1000;
    public static final double RELATIVE_FLOOR = 10;
    static final String ACTIVATION_NORM = "activation_norm.";

    private VectorBounds() {}

    /** Refuses a file whose vectors are larger than the bound above; the message names the override. */
    public static void check(SteeringVectors vectors) {
        for (int layer : vectors.layerIndices()) {
            float[] v = vectors.layer(layer);
            double sum = 0;
            for (float x : v) {
                sum += (double) x * x;
            }
            double norm = Math.sqrt(sum);
            String recorded = vectors.metadata().extra().get(ACTIVATION_NORM + layer);
            double limit = ABSOLUTE_MAX_NORM;
            String why = "the bound for a file that records no activation norm";
            if (recorded != null) {
                double activation = parse(vectors.source(), layer, recorded);
                limit = Math.max(RELATIVE_FLOOR, RELATIVE_FACTOR * activation);
                why = (int) RELATIVE_FACTOR + " x its recorded activation norm " + recorded;
            }
            if (!(norm <= limit)) {
                throw new BadVectorException(FileProblem.message(vectors.source(), "layer " + layer
                        + " vector is implausibly large", "an L2 norm of at most " + format(limit) + ", " + why,
                        format(norm)) + "; --allow-large-vectors uses it anyway");
            }
        }
    }

    private static double parse(String file, int layer, String text) {
        try {
            double value = Double.parseDouble(text);
            if (value > 0 && Double.isFinite(value)) {
                return value;
            }
        } catch (NumberFormatException notANumber) {
            // reported below with the text as found
        }
        throw new BadVectorException(FileProblem.message(file, MetadataKeys.PREFIX + ACTIVATION_NORM + layer
                + " is not a norm", "a positive finite number", text));
    }

    private static String format(double value) {
        return String.format(Locale.ROOT, "%.4g", value);
    }
}
