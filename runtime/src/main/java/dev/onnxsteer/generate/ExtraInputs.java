package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxTensor;
import java.util.Map;

/**
 * Extra named input tensors for each model run of a generation, e.g. steering vectors that a
 * compiled model takes as graph inputs. Called before every run (step 0 is the prefill); the
 * returned tensors are added to that run's inputs. The generator never closes them: create them
 * before {@code generate}, keep them open until it returns, then close them. Names that the
 * generator feeds itself ({@code input_ids}, {@code past_*}, ...) are refused.
 */
@FunctionalInterface
public interface ExtraInputs {
    ExtraInputs NONE = step -> Map.of();

    /** The tensors for one run. */
    Map<String, OnnxTensor> forStep(Step step);

    /** The same tensors for every run. */
    static ExtraInputs constant(Map<String, OnnxTensor> tensors) {
        Map<String, OnnxTensor> copy = Map.copyOf(tensors);
        return step -> copy;
    }

    /**
     * What a run looks like.
     *
     * @param step        0 for the prefill, then 1, 2, ... for each decode step
     * @param batchSize   rows in the batch
     * @param inputLength tokens fed per row in this run (the padded prompt at prefill, 1 when cached)
     * @param pastLength  positions already in the cache (0 at prefill and in full recompute)
     */
    record Step(int step, int batchSize, int inputLength, int pastLength) {}
}
