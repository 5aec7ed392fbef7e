package dev.onnxsteer.parity;

import java.util.List;

/**
 * One path's logits over the prompts as shipped and from its float-activation twin (the same graph with
 * {@code accuracy_level} 0, see {@link Int8Activations}); on a model without int8-activation nodes the twin
 * is the graph itself, so both lists are the same.
 */
record Twinned(List<float[]> shipped, List<float[]> floatActivations) {
    static Twinned untwinned(List<float[]> logits) {
        return new Twinned(logits, logits);
    }

    /** How far int8 rounding moves this path's logits from its twin's (0 without int8-activation nodes). */
    double int8Noise() {
        return shipped == floatActivations ? 0 : ReferenceOps.maxDiff(shipped, floatActivations);
    }
}
