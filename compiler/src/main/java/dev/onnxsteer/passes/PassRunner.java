package dev.onnxsteer.passes;

import dev.onnxsteer.InvalidModelException;
import dev.onnxsteer.io.LoadCheck;
import dev.onnxsteer.io.ModelDirectoryWriter;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.TypeCheck;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs passes in order on one model, then the compiler's validity check: the nodes any pass touched
 * (added, rewired, or reading changed data; see {@link Touched}) are type-checked by {@link TypeCheck}
 * in topological order, and a disagreement throws {@link InvalidModelException}. The second half of
 * the check, ONNX Runtime loading the written file ({@link LoadCheck}), runs where the file is
 * staged, in {@link ModelDirectoryWriter#write}.
 */
public final class PassRunner {
    private PassRunner() {}

    /** Runs {@code passes} on {@code model} in order and checks the result; returns each pass's result. */
    public static List<PassResult> run(Model model, List<? extends Pass> passes) {
        Touched before = Touched.before(model);
        List<PassResult> results = new ArrayList<>();
        for (Pass pass : passes) {
            results.add(pass.run(model));
        }
        // in topological order, so the first problem reported is where the wrong type starts
        model.graph().sortTopologically();
        for (TypeCheck.Problem problem : TypeCheck.check(before.since(model))) {
            throw new InvalidModelException(problem.node().name(), problem.reason());
        }
        return results;
    }
}
