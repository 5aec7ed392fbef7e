package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.session.Ort;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The key/value cache of one generate call: empty {@code past*} tensors for the first run, then the
 * {@code present*} outputs of the latest run fed back as the next run's {@code past*}. It owns the latest
 * {@link OrtSession.Result} (whose logits the loop reads too) and closes it only once the next run has
 * consumed its presents. Without reuse (full recompute) every run gets the empty cache.
 *
 * <p>The presents go back as pasts without passing through Java. A buffer allocated once at the maximum length
 * and shared by past and present would need a graph that writes the new keys in place
 * ({@code GroupQueryAttention} with {@code past_present_share_buffer}); the attention of these graphs concatenates
 * into a new tensor. The loop and the step feeds only ask this class for the tensor of a slot.
 */
public final class KvCache implements AutoCloseable {
    private final ModelLayout layout;
    private final boolean reuse;
    private final String source;
    private final List<OnnxTensor> empty = new ArrayList<>();
    private OrtSession.Result latest;

    /**
     * @param reuse false feeds the empty cache to every run (full recompute)
     */
    public KvCache(ModelLayout layout, int batch, boolean reuse, String source) {
        this.layout = layout;
        this.reuse = reuse;
        this.source = source;
        try {
            for (ModelLayout.CacheSlot slot : layout.cache()) {
                empty.add(emptyTensor(slot, batch));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Positions the next run finds in the cache when the grid is {@code width} wide. */
    public int pastLength(int width) {
        return reuse && latest != null ? width - 1 : 0;
    }

    /** Whether the next run reads the previous run's presents. */
    public boolean holdsPresents() {
        return reuse && latest != null;
    }

    /** The tensor to feed as slot {@code index}'s past in the next run; owned here. */
    public OnnxTensor past(int index) {
        if (!holdsPresents()) {
            return empty.get(index);
        }
        ModelLayout.CacheSlot slot = layout.cache().get(index);
        return tensor(latest, slot.present());
    }

    /** Keeps {@code result} as the latest run, closing the one before (its presents have been consumed). */
    public void advance(OrtSession.Result result) {
        OrtSession.Result before = latest;
        latest = result;
        if (before != null) {
            before.close();
        }
    }

    /** The latest run's result; owned here. */
    public OrtSession.Result latest() {
        if (latest == null) {
            throw new IllegalStateException("no run yet");
        }
        return latest;
    }

    /** An output of {@code result} that must be a tensor. */
    OnnxTensor tensor(OrtSession.Result result, String name) {
        OnnxValue value = result.get(name).orElseThrow(() -> new InferenceException(source + " returned no " + name));
        if (!(value instanceof OnnxTensor tensor)) {
            throw new InferenceException(name + " of " + source + " is not a tensor");
        }
        return tensor;
    }

    /** A cache tensor with no positions, for a run with an empty past. */
    public static OnnxTensor emptyTensor(ModelLayout.CacheSlot slot, int batch) {
        try {
            ByteBuffer none = ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
            return OnnxTensor.createTensor(Ort.env(), none, slot.shapeFor(batch, 0), slot.type());
        } catch (OrtException e) {
            throw new InferenceException("cannot create an empty " + slot.past() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            if (latest != null) {
                latest.close();
                latest = null;
            }
        } finally {
            empty.forEach(OnnxTensor::close);
            empty.clear();
        }
    }
}
