package dev.onnxsteer.parity;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.capture.BatchInputs;
import dev.onnxsteer.capture.Padding;
import dev.onnxsteer.generate.DecoderNames;
import dev.onnxsteer.generate.ModelLayout;
import dev.onnxsteer.session.ModelSession;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One full forward pass of a single sequence with an empty cache, returning chosen outputs as
 * float arrays. Parity checks compare these between models, so the pass feeds exactly the same
 * inputs to every model it runs.
 */
public final class Forward {
    private Forward() {}

    /** A float output and its shape. */
    public record Output(long[] shape, float[] values) {
        /** The last-axis row at flat row index {@code row} (e.g. the logits of one position). */
        public float[] row(int row) {
            int width = (int) shape[shape.length - 1];
            float[] out = new float[width];
            System.arraycopy(values, row * width, out, 0, width);
            return out;
        }

        public int rows() {
            return values.length / (int) shape[shape.length - 1];
        }
    }

    /**
     * Runs {@code tokens} (batch 1, positions 0..n-1) through the session and returns {@code outputNames}.
     * Lifted steering inputs the caller does not supply get the session's defaults.
     *
     * @param extra additional input tensors (e.g. a cut site's value, a prompt length); not closed here
     */
    public static Map<String, Output> run(ModelSession session, long[] tokens, Map<String, OnnxTensor> extra,
            List<String> outputNames) {
        ModelLayout layout = ModelLayout.detect(session, DecoderNames.OPTIMUM);
        try (BatchInputs batch = BatchInputs.create(layout, List.of(tokens), Padding.RIGHT, 0)) {
            Map<String, OnnxTensor> fed = new LinkedHashMap<>(extra);
            batch.feeds().forEach(fed::putIfAbsent);
            Map<String, OnnxTensor> inputs = session.withInputDefaults(fed);
            try (OrtSession.Result result = session.ort().run(inputs, new java.util.LinkedHashSet<>(outputNames))) {
                Map<String, Output> outputs = new LinkedHashMap<>();
                for (String name : outputNames) {
                    OnnxValue value = result.get(name).orElseThrow(() ->
                            new InferenceException(session.source() + " returned no output " + name));
                    OnnxTensor tensor = (OnnxTensor) value;
                    FloatBuffer buffer = tensor.getFloatBuffer();
                    float[] values = new float[buffer.remaining()];
                    buffer.get(values);
                    outputs.put(name, new Output(tensor.getInfo().getShape(), values));
                }
                return outputs;
            }
        } catch (OrtException e) {
            throw new InferenceException("running " + session.source() + " failed: " + e.getMessage(), e);
        }
    }
}
