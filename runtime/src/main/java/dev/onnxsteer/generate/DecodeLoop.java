package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.InferenceException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The two phases of one generate call: a prefill run over the padded prompts, then one run per token in
 * which every unfinished row picks its next token from the last run's logits. Each run is fed by
 * {@link StepFeeds} from the {@link TokenGrid} and the {@link KvCache}; rows decide for themselves
 * ({@link RowState}) when they are done. Mutates the grid, the rows and the listener's world.
 *
 * <p>A decode step allocates a bounded amount whatever the sequence length: the inputs are rewritten in buffers
 * kept for the call ({@link StepFeeds#refill}), the presents go back as pasts without a copy, and the logits land
 * in a pinned buffer of which only each row's newest position is read ({@link LastLogits}). Where the graph updates
 * its cache in place ({@link ModelLayout#inPlaceCache()}) and the generate call asks for it, the presents too are
 * pinned, to the past buffers of an {@link KvCache#inPlace in-place cache}: then nothing is allocated per step that
 * grows with the sequence, natively either.
 */
final class DecodeLoop {
    private final OrtSession session;
    private final String source;
    private final ModelLayout layout;
    private final LogitsLayout logitsLayout;
    private final StepFeeds feeds;
    private final Generator.LogitsProbe probe;
    private final RunOutputs outputs;
    private long runNanos;

    /** @param probe sees each row's raw logits; null for none */
    DecodeLoop(OrtSession session, String source, ModelLayout layout, LogitsLayout logitsLayout, StepFeeds feeds,
            Generator.LogitsProbe probe) {
        this.session = session;
        this.source = source;
        this.layout = layout;
        this.logitsLayout = logitsLayout;
        this.feeds = feeds;
        this.probe = probe;
        this.outputs = new RunOutputs(logitsLayout);
    }

    /**
     * Generates until every row has finished or the context is full.
     *
     * @param cached       feed each run's presents back (false: recompute the whole grid every run)
     * @param contextLimit the most tokens a row may reach
     * @param cacheCapacity positions of an in-place cache when the layout allows one ({@link KvCache#inPlace}); 0 for
     *                      the cache of ONNX Runtime's presents
     * @param pad          fed to rows that have finished
     * @return one result per row, in row order
     */
    List<Generation> run(TokenGrid grid, RowState[] rows, boolean cached, int contextLimit, int cacheCapacity, long pad,
            ExtraInputs extras, TokenListener listener) {
        int batch = grid.batchSize();
        boolean inPlace = cached && layout.inPlaceCache() && KvCache.fitsInPlace(layout, batch, cacheCapacity);
        try (KvCache cache = inPlace ? KvCache.inPlace(layout, batch, cacheCapacity, source)
                        : new KvCache(layout, batch, cached, source);
                StepFeeds.StepInputs inputs = new StepFeeds.StepInputs();
                LastLogits logits = new LastLogits(logitsLayout, batch, source)) {
            long start = System.nanoTime();
            TokenGrid.Window window = runStep(0, grid, cache, inputs, logits, extras);
            long prefillEnd = System.nanoTime();
            double prefillMs = (prefillEnd - start) / 1e6;
            long prefillRunNanos = runNanos;
            ConditionReport.report(layout, cache, batch, listener);
            long[] column = new long[batch];
            for (int step = 1; ; step++) {
                float[][] last = logits.read(cache, window);
                boolean contextFull = grid.width() + 1 >= contextLimit;
                boolean anyActive = false;
                for (RowState row : rows) {
                    if (!row.finished() && row.cancelRequested()) {
                        row.cancel();
                    }
                    if (row.finished()) {
                        column[row.index] = pad;
                        continue;
                    }
                    if (probe != null) {
                        probe.onLogits(step - 1, row.index, last[row.index].clone());
                    }
                    long token = row.choose(last[row.index]);
                    column[row.index] = token;
                    row.advance(token, contextFull, listener);
                    anyActive |= !row.finished();
                }
                grid.append(column);
                if (!anyActive) {
                    break;
                }
                window = runStep(step, grid, cache, inputs, logits, extras);
            }
            List<Generation> results = new ArrayList<>(batch);
            for (RowState row : rows) {
                results.add(row.result(prefillEnd, prefillMs, runNanos / 1e6, (runNanos - prefillRunNanos) / 1e6));
            }
            return results;
        }
    }

    /** One run over what the cache does not hold yet; its result goes to the cache. Returns the window fed. */
    private TokenGrid.Window runStep(int step, TokenGrid grid, KvCache cache, StepFeeds.StepInputs inputs,
            LastLogits logits, ExtraInputs extras) {
        TokenGrid.Window window = grid.window(cache.pastLength(grid.width()));
        var extra = extras.forStep(new ExtraInputs.Step(step, grid.batchSize(), window.inputLength(),
                window.pastLength()));
        feeds.refill(inputs, grid, window, cache, extra);
        if (step == 0) {
            List<String> missing = feeds.missing(inputs);
            if (!missing.isEmpty()) {
                throw new InferenceException(source + " has inputs " + missing
                        + " that generation does not feed; supply them through ExtraInputs");
            }
        }
        outputs.bind(logits.pinsFor(window.inputLength()), cache.pins(grid.width()));
        long start = System.nanoTime();
        OrtSession.Result result;
        try {
            result = outputs.pinned().isEmpty() ? session.run(inputs.feeds())
                    : session.run(inputs.feeds(), outputs.requested(), outputs.pinned());
        } catch (OrtException e) {
            throw new InferenceException("running " + source + " failed at generation step " + step + ": "
                    + e.getMessage(), e);
        } finally {
            runNanos += System.nanoTime() - start;
        }
        cache.advance(result);
        return window;
    }
}
