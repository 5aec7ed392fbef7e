package dev.onnxsteer.capture;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.generate.ModelLayout;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.session.Tensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The input tensors of one full forward pass over a padded batch of prompts with an empty cache:
 * token ids (pad id in padded slots), an attention mask that is 0 exactly on the padding, position
 * ids counted from the mask ({@code cumsum(mask) - 1}, 0 on padding), empty {@code past*} tensors
 * and {@code use_cache_branch = false} where the model has them. Closing it frees the tensors.
 */
public final class BatchInputs implements AutoCloseable {
    private final Map<String, OnnxTensor> feeds;
    private final int[] offsets;
    private final int[] lengths;
    private final int width;

    private BatchInputs(Map<String, OnnxTensor> feeds, int[] offsets, int[] lengths, int width) {
        this.feeds = feeds;
        this.offsets = offsets;
        this.lengths = lengths;
        this.width = width;
    }

    /**
     * Builds the inputs for {@code prompts} (each at least one token) padded to the longest.
     *
     * @param padId the token id fed in padded slots (masked out, so any valid id does)
     */
    public static BatchInputs create(ModelLayout layout, List<long[]> prompts, Padding padding, long padId) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one prompt");
        }
        int batch = prompts.size();
        int width = 0;
        for (int r = 0; r < batch; r++) {
            if (prompts.get(r).length == 0) {
                throw new IllegalArgumentException("prompt " + r + " of the batch has no tokens");
            }
            width = Math.max(width, prompts.get(r).length);
        }
        long[] ids = new long[batch * width];
        long[] mask = new long[batch * width];
        long[] positions = new long[batch * width];
        int[] offsets = new int[batch];
        int[] lengths = new int[batch];
        for (int r = 0; r < batch; r++) {
            long[] prompt = prompts.get(r);
            int offset = padding == Padding.LEFT ? width - prompt.length : 0;
            offsets[r] = offset;
            lengths[r] = prompt.length;
            int base = r * width;
            java.util.Arrays.fill(ids, base, base + width, padId);
            System.arraycopy(prompt, 0, ids, base + offset, prompt.length);
            for (int t = 0; t < prompt.length; t++) {
                mask[base + offset + t] = 1;
                positions[base + offset + t] = t;
            }
        }
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        long[] shape = {batch, width};
        try {
            feeds.put(layout.inputIds(), Tensors.ints(layout.idType(), ids, shape));
            if (layout.attentionMask().isPresent()) {
                feeds.put(layout.attentionMask().get(), Tensors.ints(layout.maskType(), mask, shape));
            }
            if (layout.positionIds().isPresent()) {
                feeds.put(layout.positionIds().get(), Tensors.ints(layout.positionType(), positions, shape));
            }
            if (layout.useCacheBranch().isPresent()) {
                feeds.put(layout.useCacheBranch().get(), OnnxTensor.createTensor(Ort.env(), new boolean[] {false}));
            }
            for (ModelLayout.CacheSlot slot : layout.cache()) {
                ByteBuffer none = ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
                feeds.put(slot.past(), OnnxTensor.createTensor(Ort.env(), none, slot.shapeFor(batch, 0), slot.type()));
            }
        } catch (OrtException | RuntimeException e) {
            feeds.values().forEach(OnnxTensor::close);
            if (e instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new InferenceException("cannot create the input tensors of a batch: " + e.getMessage(), e);
        }
        return new BatchInputs(feeds, offsets, lengths, width);
    }

    /** The tensors to feed, by input name; owned by this object. */
    public Map<String, OnnxTensor> feeds() {
        return Collections.unmodifiableMap(feeds);
    }

    public int batchSize() {
        return offsets.length;
    }

    /** The padded sequence length. */
    public int width() {
        return width;
    }

    /** The first slot of row {@code row} that holds a prompt token. */
    public int offset(int row) {
        return offsets[row];
    }

    /** The number of prompt tokens in row {@code row}. */
    public int length(int row) {
        return lengths[row];
    }

    @Override
    public void close() {
        List<OnnxTensor> all = new ArrayList<>(feeds.values());
        feeds.clear();
        all.forEach(OnnxTensor::close);
    }
}
