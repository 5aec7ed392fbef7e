package dev.onnxsteer.passes;

import dev.onnxsteer.ir.Model;

/**
 * A rewrite of a model in place. A pass checks everything it needs before its first edit, so a
 * refused request leaves the model untouched; it says in its result whether it changed anything.
 * Passes are chained by {@link PassRunner}, which ends with the validity check.
 */
@FunctionalInterface
public interface Pass {
    PassResult run(Model model);
}
