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
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The key/value cache of one generate call: empty {@code past*} tensors for the first run, then the
 * {@code present*} outputs of the latest run fed back as the next run's {@code past*}. It owns the latest
 * {@link OrtSession.Result} (whose logits the loop reads too) and closes it only once the next run has
 * consumed its presents. Without reuse (full recompute) every run gets the empty cache.
 *
 * <p>The presents go back as pasts without passing through Java, but ONNX Runtime allocates every run's presents
 * anew, one position longer, and copies the past into them. A graph whose cache ONNX Runtime can update in place
 * ({@link ModelLayout#inPlaceCache()}: GroupQueryAttention) gets {@link #inPlace} instead: one direct buffer per
 * slot, {@code [batch, kv_heads, capacity, head_dim]}, allocated once for the generate call, bound as the slot's
 * past input and, {@link #pins pinned}, as its present output. GroupQueryAttention then writes each row's new keys
 * at the row's length and attends over that length only ({@code seqlens_k}, from the mask, which stays as wide as
 * the grid): the positions beyond are never read, and its present has the buffer's length, so ONNX Runtime writes
 * into the pinned buffer rather than allocating. The loop and the step feeds only ask this class for the tensor
 * of a slot and the outputs to pin.
 */
public final class KvCache implements AutoCloseable {
    private final ModelLayout layout;
    private final boolean reuse;
    private final String source;
    private final List<OnnxTensor> empty = new ArrayList<>();
    /** The in-place buffers by slot; empty when the presents are ONNX Runtime's. */
    private final List<OnnxTensor> buffers = new ArrayList<>();
    private final Map<String, OnnxTensor> pins = new LinkedHashMap<>();
    private final Map<String, OnnxTensor> pinsView = Collections.unmodifiableMap(pins);
    private final int capacity;
    private OrtSession.Result latest;

    /**
     * @param reuse false feeds the empty cache to every run (full recompute)
     */
    public KvCache(ModelLayout layout, int batch, boolean reuse, String source) {
        this(layout, batch, reuse, source, 0);
    }

    private KvCache(ModelLayout layout, int batch, boolean reuse, String source, int capacity) {
        this.layout = layout;
        this.reuse = reuse;
        this.source = source;
        this.capacity = capacity;
        try {
            for (ModelLayout.CacheSlot slot : layout.cache()) {
                if (capacity == 0) {
                    empty.add(emptyTensor(slot, batch));
                    continue;
                }
                OnnxTensor buffer = buffer(slot, batch, capacity, source);
                buffers.add(buffer);
                pins.put(slot.present(), buffer);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * A cache whose slots are buffers of {@code capacity} positions updated in place by the model, for a layout
     * with {@link ModelLayout#inPlaceCache()}; see {@link #fitsInPlace} for the capacities that can be allocated.
     *
     * @throws IllegalArgumentException when the layout's cache cannot be updated in place
     */
    public static KvCache inPlace(ModelLayout layout, int batch, int capacity, String source) {
        if (!layout.inPlaceCache()) {
            throw new IllegalArgumentException("the cache of " + source + " is not updated in place by its graph");
        }
        if (!fitsInPlace(layout, batch, capacity)) {
            throw new IllegalArgumentException("an in-place cache of " + capacity + " positions for " + batch
                    + " rows does not fit one direct buffer per slot");
        }
        return new KvCache(layout, batch, true, source, capacity);
    }

    /** Whether each slot's buffer of {@code capacity} positions fits one direct buffer (2 GiB). */
    public static boolean fitsInPlace(ModelLayout layout, int batch, int capacity) {
        if (capacity < 1) {
            return false;
        }
        for (ModelLayout.CacheSlot slot : layout.cache()) {
            if (bytes(slot, batch, capacity) > Integer.MAX_VALUE) {
                return false;
            }
        }
        return true;
    }

    /** Whether the slots are buffers the model updates in place ({@link #inPlace}). */
    public boolean inPlace() {
        return capacity > 0;
    }

    /**
     * The outputs to bind to the past buffers for the next run: each present to its slot's buffer when the cache
     * is updated in place, else none. The map is the same object for every run.
     *
     * @throws InferenceException when a run over {@code width} positions would not fit the buffers
     */
    public Map<String, OnnxTensor> pins(int width) {
        if (capacity > 0 && width > capacity) {
            // GroupQueryAttention would make the present longer than the buffer, which ONNX Runtime refuses to
            // bind: a clear error here instead of its shape mismatch
            throw new InferenceException("the in-place KV cache of " + source + " holds " + capacity
                    + " positions but the next run needs " + width);
        }
        return pinsView;
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
        if (capacity > 0) {
            return buffers.get(index);
        }
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

    private static long bytes(ModelLayout.CacheSlot slot, int batch, int capacity) {
        long values = 1;
        for (long dim : slot.shapeFor(batch, capacity)) {
            values *= dim;
        }
        return values * slot.type().size;
    }

    /** A zeroed direct buffer of {@code capacity} positions bound to one tensor. */
    private static OnnxTensor buffer(ModelLayout.CacheSlot slot, int batch, int capacity, String source) {
        try {
            ByteBuffer data = ByteBuffer.allocateDirect((int) bytes(slot, batch, capacity)).order(ByteOrder.nativeOrder());
            return OnnxTensor.createTensor(Ort.env(), data, slot.shapeFor(batch, capacity), slot.type());
        } catch (OrtException e) {
            throw new InferenceException("cannot create the in-place " + slot.past() + " of " + source + ": "
                    + e.getMessage(), e);
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
            buffers.forEach(OnnxTensor::close);
            buffers.clear();
            pins.clear();
        }
    }
}
