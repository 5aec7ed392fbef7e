package dev.onnxsteer.session;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import dev.onnxsteer.InferenceException;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;

/** Input tensors in the element type a model declares (token ids are int64 in most exports, int32 in ORT-fused ones). */
public final class Tensors {
    private Tensors() {}

    /** An integer tensor of {@code shape}: int64, or int32 when {@code type} says so. */
    public static OnnxTensor ints(OnnxJavaType type, long[] values, long... shape) {
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

    public static OnnxTensor floats(float[] values, long... shape) {
        try {
            return OnnxTensor.createTensor(Ort.env(), FloatBuffer.wrap(values), shape);
        } catch (OrtException e) {
            throw new InferenceException("cannot create a float tensor: " + e.getMessage(), e);
        }
    }
}
