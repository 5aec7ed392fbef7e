package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.platform.Fp16Conversions;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.session.Ort;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.Map;

/**
 * The logits of each row's newest token, run after run, for one generate call. When the shape of a run's logits
 * is known before the run ({@link LogitsLayout#rowsFor}: always in a cached decode step, {@code [batch, 1, vocab]};
 * at a prefill whose logits follow {@code input_ids}), ONNX Runtime writes them into a direct buffer handed to it
 * as a pinned output, and only each row's newest position is read from it: nothing of {@code [batch, seq, vocab]}
 * is copied. Otherwise the logits ONNX Runtime allocated are copied out whole, as ONNX Runtime Java reads any output.
 * The rows returned are reused: valid until the next run.
 */
final class LastLogits implements AutoCloseable {
    private final LogitsLayout layout;
    private final String source;
    private final int batch;
    private final int bytesPerValue;
    private float[][] rows;
    private ByteBuffer data = ByteBuffer.allocateDirect(0);
    private FloatBuffer floats = data.asFloatBuffer();
    private OnnxTensor pinned;
    private long[] pinnedShape;
    private Map<String, OnnxTensor> pins = Map.of();
    /** Logits rows per batch row of the latest run's pinned output; 0 when the latest run was not pinned. */
    private int pinnedRows;

    LastLogits(LogitsLayout layout, int batch, String source) {
        this.layout = layout;
        this.batch = batch;
        this.source = source;
        this.bytesPerValue = layout.type().size;
    }

    /**
     * The outputs to pin for a run feeding {@code inputLength} tokens per row (the logits, or nothing when their
     * shape cannot be known before the run); the map stays the same object while the shape does.
     */
    Map<String, OnnxTensor> pinsFor(int inputLength) {
        int seq = layout.rowsFor(inputLength);
        long size = seq > 0 && layout.vocab().isPresent() ? (long) batch * seq * layout.vocab().getAsInt() * bytesPerValue : -1;
        boolean pinnable = size > 0 && size <= Integer.MAX_VALUE && (layout.type() == OnnxJavaType.FLOAT
                || layout.type() == OnnxJavaType.FLOAT16 || layout.type() == OnnxJavaType.BFLOAT16);
        if (!pinnable) {
            pinnedRows = 0;
            return Map.of();
        }
        long[] shape = {batch, seq, layout.vocab().getAsInt()};
        if (pinned == null || !Arrays.equals(shape, pinnedShape)) {
            closePinned();
            int bytes = (int) size;
            if (bytes > data.capacity()) {
                // doubling: a full recompute asks for one more position every run
                int capacity = (int) Math.min(Integer.MAX_VALUE, Math.max(bytes, 2L * data.capacity()));
                data = ByteBuffer.allocateDirect(capacity).order(ByteOrder.nativeOrder());
                floats = data.asFloatBuffer();
            }
            try {
                pinned = OnnxTensor.createTensor(Ort.env(), data.slice(0, bytes).order(ByteOrder.nativeOrder()), shape,
                        layout.type());
            } catch (OrtException e) {
                throw new InferenceException("cannot create the logits buffer of " + source + ": " + e.getMessage(), e);
            }
            pinnedShape = shape;
            pins = Collections.singletonMap(layout.name(), pinned);
        }
        pinnedRows = seq;
        return pins;
    }

    /**
     * Each row's logits at its newest token in the latest run of {@code cache} (16-bit logits widened); the run's
     * own logits output is looked at only when the run was not pinned.
     */
    float[][] read(KvCache cache, TokenGrid.Window window) {
        if (pinnedRows > 0) {
            int vocab = layout.vocab().getAsInt();
            float[][] out = rows(vocab);
            for (int r = 0; r < batch; r++) {
                int at = pinnedRows == window.inputLength() ? window.lastIndex(r) : pinnedRows - 1;
                readRow((r * pinnedRows + at) * vocab, out[r]);
            }
            return out;
        }
        return copied(cache.tensor(cache.latest(), layout.name()), window);
    }

    private void readRow(int first, float[] row) {
        if (layout.type() == OnnxJavaType.FLOAT) {
            floats.get(first, row);
            return;
        }
        boolean half = layout.type() == OnnxJavaType.FLOAT16;
        for (int i = 0; i < row.length; i++) {
            short bits = data.getShort((first + i) * Short.BYTES);
            row[i] = half ? Fp16Conversions.fp16ToFloat(bits) : Fp16Conversions.bf16ToFloat(bits);
        }
    }

    /** The rows from logits ONNX Runtime allocated (its Java API copies the whole tensor to read it). */
    private float[][] copied(OnnxTensor tensor, TokenGrid.Window window) {
        long[] shape = tensor.getInfo().getShape();
        if (shape.length != 3 || shape[0] != batch) {
            throw new InferenceException("logits of " + source + " have shape " + Arrays.toString(shape)
                    + " but [" + batch + ", seq, vocab] was expected");
        }
        int seq = (int) shape[1];
        int vocab = (int) shape[2];
        FloatBuffer values = tensor.getFloatBuffer();
        float[][] out = rows(vocab);
        for (int r = 0; r < batch; r++) {
            // a graph that returns only the last position's logits has seq 1
            int at = seq == window.inputLength() ? window.lastIndex(r) : seq - 1;
            values.position((r * seq + at) * vocab);
            values.get(out[r]);
        }
        return out;
    }

    private float[][] rows(int vocab) {
        if (rows == null || rows[0].length != vocab) {
            rows = new float[batch][vocab];
        }
        return rows;
    }

    private void closePinned() {
        if (pinned != null) {
            pinned.close();
            pinned = null;
            pins = Map.of();
        }
    }

    @Override
    public void close() {
        closePinned();
    }
}
