package dev.onnxsteer.capture;

import ai.onnxruntime.OnnxTensor;
import dev.onnxsteer.generate.KvCache;
import dev.onnxsteer.generate.ModelLayout;
import dev.onnxsteer.generate.StepFeeds;
import dev.onnxsteer.generate.TokenGrid;
import java.util.List;
import java.util.Map;

/**
 * The input tensors of one full forward pass over a padded batch of prompts with an empty cache, as
 * generation's {@link StepFeeds} builds its prefill: token ids (pad id in padded slots), an attention mask
 * that is 0 exactly on the padding, position ids counted from each prompt's first token (0 on padding),
 * empty {@code past*} tensors and {@code use_cache_branch = false} where the model has them. Closing it
 * frees the tensors.
 */
public final class BatchInputs implements AutoCloseable {
    private final TokenGrid grid;
    private final KvCache cache;
    private final StepFeeds.StepInputs inputs;

    private BatchInputs(TokenGrid grid, KvCache cache, StepFeeds.StepInputs inputs) {
        this.grid = grid;
        this.cache = cache;
        this.inputs = inputs;
    }

    /**
     * Builds the inputs for {@code prompts} (each at least one token) padded to the longest.
     *
     * @param padId the token id fed in padded slots (masked out, so any valid id does)
     */
    public static BatchInputs create(ModelLayout layout, List<long[]> prompts, Padding padding, long padId) {
        TokenGrid grid = new TokenGrid(prompts, 0,
                padding == Padding.LEFT ? TokenGrid.Alignment.LEFT : TokenGrid.Alignment.RIGHT, padId);
        KvCache cache = new KvCache(layout, grid.batchSize(), false, "a batch");
        try {
            return new BatchInputs(grid, cache, StepFeeds.forLayout(layout).build(grid, grid.window(0), cache, Map.of()));
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
    }

    /** The tensors to feed, by input name; owned by this object. */
    public Map<String, OnnxTensor> feeds() {
        return inputs.feeds();
    }

    public int batchSize() {
        return grid.batchSize();
    }

    /** The padded sequence length. */
    public int width() {
        return grid.width();
    }

    /** The first slot of row {@code row} that holds a prompt token. */
    public int offset(int row) {
        return grid.offset(row);
    }

    /** The number of prompt tokens in row {@code row}. */
    public int length(int row) {
        return grid.length(row);
    }

    @Override
    public void close() {
        try {
            inputs.close();
        } finally {
            cache.close();
        }
    }
}
