package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxTensor;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.io.CompiledModelAbi;
import java.nio.FloatBuffer;
import java.util.Arrays;

/** Tells a listener, after the prefill, each row's decision of a compiled steering condition. */
final class ConditionReport {
    private ConditionReport() {}

    static void report(ModelLayout layout, KvCache cache, int batch, TokenListener listener) {
        boolean conditional = layout.cache().stream().anyMatch(s -> s.present().equals(CompiledModelAbi.CONDITION_PRESENT));
        if (!conditional) {
            return;
        }
        OnnxTensor decisions = cache.tensor(cache.latest(), CompiledModelAbi.CONDITION_PRESENT);
        long[] shape = decisions.getInfo().getShape();
        if (shape.length != 2 || shape[0] != batch || shape[1] < 1) {
            throw new InferenceException(CompiledModelAbi.CONDITION_PRESENT + " has shape " + Arrays.toString(shape)
                    + " but [" + batch + ", positions] was expected");
        }
        FloatBuffer values = decisions.getFloatBuffer();
        for (int row = 0; row < batch; row++) {
            listener.onCondition(row, values.get((int) (row * shape[1])) > 0.5f);
        }
    }
}
