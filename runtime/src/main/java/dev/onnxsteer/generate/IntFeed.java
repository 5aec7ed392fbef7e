package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.session.Ort;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * One integer input of a run (token ids, positions, mask) held in a direct buffer in the element type the model
 * declares (int64, or int32 in ORT-fused graphs), which ONNX Runtime reads in place. The values are rewritten for
 * every run; the tensor over them is kept while the run shape stays the same (a decode step's {@code [batch, 1]}
 * ids and positions), so a step allocates neither an array nor a tensor for them. The buffer grows (never
 * shrinks) when a run needs more values.
 */
final class IntFeed implements TokenGrid.Sink, AutoCloseable {
    private final OnnxJavaType type;
    private final int bytesPerValue;
    private ByteBuffer data;
    private OnnxTensor tensor;
    private long[] shape;

    /** @param type INT64 or INT32 */
    IntFeed(OnnxJavaType type) {
        if (type != OnnxJavaType.INT64 && type != OnnxJavaType.INT32) {
            throw new IllegalArgumentException("an integer input is INT64 or INT32, got " + type);
        }
        this.type = type;
        this.bytesPerValue = type == OnnxJavaType.INT64 ? Long.BYTES : Integer.BYTES;
        this.data = ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
    }

    /** Makes room for {@code values} values, keeping the tensor only when {@code shape} is the one it has. */
    void prepare(int values, long... shape) {
        if (tensor != null && Arrays.equals(this.shape, shape)) {
            return;
        }
        closeTensor();
        long need = (long) values * bytesPerValue;
        if (need > data.capacity()) {
            // doubling: a full recompute feeds one more position every run
            data = ByteBuffer.allocateDirect(Math.toIntExact(Math.max(need, 2L * data.capacity())))
                    .order(ByteOrder.nativeOrder());
        }
        this.shape = shape.clone();
    }

    @Override
    public void put(int index, long value) {
        if (type == OnnxJavaType.INT64) {
            data.putLong(index * Long.BYTES, value);
        } else {
            data.putInt(index * Integer.BYTES, Math.toIntExact(value));
        }
    }

    /** The tensor over the values written since {@link #prepare}; owned here. */
    OnnxTensor tensor() {
        if (tensor == null) {
            long count = 1;
            for (long dim : shape) {
                count *= dim;
            }
            ByteBuffer view = data.slice(0, Math.toIntExact(count * bytesPerValue)).order(ByteOrder.nativeOrder());
            try {
                tensor = OnnxTensor.createTensor(Ort.env(), view, shape, type);
            } catch (OrtException e) {
                throw new InferenceException("cannot create an input tensor: " + e.getMessage(), e);
            }
        }
        return tensor;
    }

    private void closeTensor() {
        if (tensor != null) {
            tensor.close();
            tensor = null;
        }
    }

    @Override
    public void close() {
        closeTensor();
    }
}
