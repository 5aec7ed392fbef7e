package dev.onnxsteer.server;

import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.plan.LayerChoice;
import dev.onnxsteer.plan.PlanVector;
import dev.onnxsteer.plan.SteeringPlan;
import java.util.List;
import java.util.Objects;

/**
 * One entry of a request's {@code steering} list: {@code op} (default add) with the registered
 * vector {@code vector} (a name from {@link VectorRegistry}, never a path) at {@code scale} (add) or
 * with projection {@code value} (clamp), optionally only at the layers {@code fromLayer..toLayer}
 * (inclusive; llama.cpp's {@code --control-vector-layer-range}). Which layers and sites that
 * steers follows the library's {@link SteeringPlan} rules, exactly as {@code generate --vector
 * FILE:SCALE --layers FROM-TO --op OP} does.
 *
 * @param fromLayer first layer of the range, or {@link #ALL_LAYERS} for the vector's own layers
 * @param toLayer   last layer of the range, or {@link #ALL_LAYERS}
 * @param op        add, ablate or clamp
 * @param value     the clamp value with {@link SteerOp#CLAMP}, else null
 * @param feature   for an SAE entry ({@code {"sae": NAME, "feature": N}}), which feature; {@code vector} is then its
 *                  {@link Feature#label}, under which the request's bound vectors hold the feature's decoder row.
 *                  Null for a registered vector
 */
public record SteeringTerm(String vector, float scale, int fromLayer, int toLayer, SteerOp op, Float value,
        Feature feature) {
    public static final int ALL_LAYERS = -1;
    /** The operations a request may ask for. */
    public static final List<SteerOp> OPS = List.of(SteerOp.ADD, SteerOp.ABLATE, SteerOp.CLAMP);

    /**
     * Feature {@code feature} of the registered SAE {@code sae}, its decoder row scaled to unit length with {@code
     * unit}.
     */
    public record Feature(String sae, int feature, boolean unit) {
        public Feature {
            Objects.requireNonNull(sae, "sae");
            if (feature < 0) {
                throw new IllegalArgumentException("SAE feature of " + sae + " is " + feature + "; expected >= 0");
            }
        }

        /** How answers and messages name it, as the command line does with a directory: {@code sae:NAME#N[,unit]}. */
        public String label() {
            return "sae:" + sae + "#" + feature + (unit ? ",unit" : "");
        }
    }

    public SteeringTerm {
        Objects.requireNonNull(vector, "vector");
        if (feature != null && !vector.equals(feature.label())) {
            throw new IllegalArgumentException("an SAE entry is named " + feature.label() + ", not " + vector);
        }
        Objects.requireNonNull(op, "op");
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("scale of " + vector + " is " + scale + "; expected a finite number");
        }
        if ((fromLayer == ALL_LAYERS) != (toLayer == ALL_LAYERS) || (fromLayer != ALL_LAYERS
                && (fromLayer < 0 || toLayer < fromLayer))) {
            throw new IllegalArgumentException("layer range of " + vector + " is [" + fromLayer + ", " + toLayer
                    + "]; expected 0 <= first <= last");
        }
        if (!OPS.contains(op)) {
            throw new IllegalArgumentException("steering op " + op.label() + " is not available per request");
        }
        if ((op == SteerOp.CLAMP) != (value != null) || (value != null && !Float.isFinite(value))) {
            throw new IllegalArgumentException("clamp of " + vector + " needs a finite value (and only clamp takes one), got "
                    + value);
        }
    }

    /** A registered vector's entry. */
    public SteeringTerm(String vector, float scale, int fromLayer, int toLayer, SteerOp op, Float value) {
        this(vector, scale, fromLayer, toLayer, op, value, null);
    }

    /** Add at {@code fromLayer..toLayer}. */
    public SteeringTerm(String vector, float scale, int fromLayer, int toLayer) {
        this(vector, scale, fromLayer, toLayer, SteerOp.ADD, null);
    }

    /** Add at the vector's own layers. */
    public SteeringTerm(String vector, float scale) {
        this(vector, scale, ALL_LAYERS, ALL_LAYERS);
    }

    public boolean hasRange() {
        return fromLayer != ALL_LAYERS;
    }

    /** Whether the entry changes the component along the vector's direction (ablate or clamp). */
    public boolean usesDirection() {
        return op != SteerOp.ADD;
    }

    /** The range as the plan's layer choice, or null for the vector's own layers. */
    public LayerChoice layers() {
        return hasRange() ? LayerChoice.range(fromLayer, toLayer) : null;
    }

    /** This entry with the registered {@code entry} as a one-file plan. */
    SteeringPlan plan(VectorRegistry.Entry entry) {
        return SteeringPlan.add(List.of(new PlanVector(vector, entry.vectors(), scale))).withLayers(layers())
                .withOp(op, value);
    }
}
