package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Model;

/** A rewrite of a model in place. */
public interface Pass {
    /** Applies the rewrite; returns whether the model changed. */
    boolean apply(Model model);
}
