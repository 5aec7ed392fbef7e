package dev.onnxsteer.session;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.platform.Fp16Conversions;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.ir.DataType;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;

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

    /**
     * A float tensor stored as {@code type}: float32, or float16 / bfloat16 rounded from {@code values}
     * (for inputs of a 16-bit graph: a cut site, a cache).
     */
    public static OnnxTensor floats(OnnxJavaType type, float[] values, long... shape) {
        if (type == OnnxJavaType.FLOAT) {
            return floats(values, shape);
        }
        FloatBuffer data = FloatBuffer.wrap(values);
        ShortBuffer halves = switch (type) {
            case FLOAT16 -> Fp16Conversions.convertFloatBufferToFp16Buffer(data);
            case BFLOAT16 -> Fp16Conversions.convertFloatBufferToBf16Buffer(data);
            default -> throw new IllegalArgumentException("cannot store floats as " + type
                    + "; expected FLOAT, FLOAT16 or BFLOAT16");
        };
        try {
            return OnnxTensor.createTensor(Ort.env(), halves, shape, type);
        } catch (OrtException e) {
            throw new InferenceException("cannot create a " + type + " tensor: " + e.getMessage(), e);
        }
    }

    /** The ONNX Runtime element type of {@code type}, for the three float types a site can have. */
    public static OnnxJavaType javaType(DataType type) {
        return switch (type) {
            case FLOAT -> OnnxJavaType.FLOAT;
            case FLOAT16 -> OnnxJavaType.FLOAT16;
            case BFLOAT16 -> OnnxJavaType.BFLOAT16;
            default -> throw new IllegalArgumentException(type.label() + " is not a float type; expected float, "
                    + "float16 or bfloat16");
        };
    }

    public static OnnxTensor floats(float[] values, long... shape) {
        try {
            return OnnxTensor.createTensor(Ort.env(), FloatBuffer.wrap(values), shape);
        } catch (OrtException e) {
            throw new InferenceException("cannot create a float tensor: " + e.getMessage(), e);
        }
    }
}
