package dev.onnxsteer.parity;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.generate.ModelLayout;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.Ort;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
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
        ModelLayout layout = ModelLayout.detect(session.ort(), session.source());
        List<OnnxTensor> created = new ArrayList<>();
        try {
            Map<String, OnnxTensor> inputs = new LinkedHashMap<>(extra);
            int length = tokens.length;
            long[] positions = new long[length];
            long[] ones = new long[length];
            for (int i = 0; i < length; i++) {
                positions[i] = i;
                ones[i] = 1;
            }
            inputs.put(layout.inputIds(), track(created, ints(layout.idType(), tokens)));
            layout.attentionMask().ifPresent(name -> inputs.put(name, track(created, ints(layout.maskType(), ones))));
            layout.positionIds().ifPresent(name -> inputs.put(name, track(created, ints(layout.positionType(), positions))));
            if (layout.useCacheBranch().isPresent()) {
                inputs.put(layout.useCacheBranch().get(), track(created, OnnxTensor.createTensor(Ort.env(), new boolean[] {false})));
            }
            for (ModelLayout.CacheSlot slot : layout.cache()) {
                ByteBuffer none = ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
                inputs.put(slot.past(), track(created, OnnxTensor.createTensor(Ort.env(), none, slot.shapeFor(1, 0), slot.type())));
            }
            for (Map.Entry<String, OnnxTensor> entry : session.inputDefaults().entrySet()) {
                inputs.putIfAbsent(entry.getKey(), entry.getValue());
            }
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
        } finally {
            created.forEach(OnnxTensor::close);
        }
    }

    private static OnnxTensor ints(OnnxJavaType type, long[] values) {
        long[] shape = {1, values.length};
        try {
            if (type == OnnxJavaType.INT32) {
                int[] narrow = new int[values.length];
                for (int i = 0; i < values.length; i++) {
                    narrow[i] = Math.toIntExact(values[i]);
                }
                return OnnxTensor.createTensor(Ort.env(), IntBuffer.wrap(narrow), shape);
            }
            return OnnxTensor.createTensor(Ort.env(), LongBuffer.wrap(values), shape);
        } catch (OrtException e) {
            throw new InferenceException("cannot create an input tensor: " + e.getMessage(), e);
        }
    }

    private static OnnxTensor track(List<OnnxTensor> created, OnnxTensor tensor) {
        created.add(tensor);
        return tensor;
    }

    /** A [1, length, hidden] float tensor holding {@code values}. */
    public static OnnxTensor floats(long[] shape, float[] values) {
        try {
            return OnnxTensor.createTensor(Ort.env(), FloatBuffer.wrap(values), shape);
        } catch (OrtException e) {
            throw new InferenceException("cannot create a float tensor: " + e.getMessage(), e);
        }
    }
}
