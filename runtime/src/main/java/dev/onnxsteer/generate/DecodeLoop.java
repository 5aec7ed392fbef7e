package dev.onnxsteer.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.InferenceException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The two phases of one generate call: a prefill run over the padded prompts, then one run per token in
 * which every unfinished row picks its next token from the last run's logits. Each run is fed by
 * {@link StepFeeds} from the {@link TokenGrid} and the {@link KvCache}; rows decide for themselves
 * ({@link RowState}) when they are done. Mutates the grid, the rows and the listener's world.
 */
final class DecodeLoop {
    private final OrtSession session;
    private final String source;
    private final ModelLayout layout;
    private final StepFeeds feeds;
    private final Generator.LogitsProbe probe;
    private final long[] runNanos = {0};

    /** @param probe sees each row's raw logits; null for none */
    DecodeLoop(OrtSession session, String source, ModelLayout layout, StepFeeds feeds, Generator.LogitsProbe probe) {
        this.session = session;
        this.source = source;
        this.layout = layout;
        this.feeds = feeds;
        this.probe = probe;
    }

    /**
     * Generates until every row has finished or the context is full.
     *
     * @param cached       feed each run's presents back (false: recompute the whole grid every run)
     * @param contextLimit the most tokens a row may reach
     * @param pad          fed to rows that have finished
     * @return one result per row, in row order
     */
    List<Generation> run(TokenGrid grid, RowState[] rows, boolean cached, int contextLimit, long pad, ExtraInputs extras,
            TokenListener listener) {
        int batch = grid.batchSize();
        try (KvCache cache = new KvCache(layout, batch, cached, source)) {
            long start = System.nanoTime();
            TokenGrid.Window window = runStep(0, grid, cache, extras);
            long prefillEnd = System.nanoTime();
            double prefillMs = (prefillEnd - start) / 1e6;
            long prefillRunNanos = runNanos[0];
            ConditionReport.report(layout, cache, batch, listener);
            for (int step = 1; ; step++) {
                float[][] logits = lastLogits(cache, window, batch);
                boolean contextFull = grid.width() + 1 >= contextLimit;
                boolean anyActive = false;
                long[] column = new long[batch];
                for (RowState row : rows) {
                    if (!row.finished() && row.cancelRequested()) {
                        row.cancel();
                    }
                    if (row.finished()) {
                        column[row.index] = pad;
                        continue;
                    }
                    if (probe != null) {
                        probe.onLogits(step - 1, row.index, logits[row.index].clone());
                    }
                    long token = row.choose(logits[row.index]);
                    column[row.index] = token;
                    row.advance(token, contextFull, listener);
                    anyActive |= !row.finished();
                }
                grid.append(column);
                if (!anyActive) {
                    break;
                }
                window = runStep(step, grid, cache, extras);
            }
            List<Generation> results = new ArrayList<>(batch);
            for (RowState row : rows) {
                results.add(row.result(prefillEnd, prefillMs, runNanos[0] / 1e6, (runNanos[0] - prefillRunNanos) / 1e6));
            }
            return results;
        }
    }

    /** One run over what the cache does not hold yet; its result goes to the cache. Returns the window fed. */
    private TokenGrid.Window runStep(int step, TokenGrid grid, KvCache cache, ExtraInputs extras) {
        TokenGrid.Window window = grid.window(cache.pastLength(grid.width()));
        var extra = extras.forStep(new ExtraInputs.Step(step, grid.batchSize(), window.inputLength(),
                window.pastLength()));
        try (StepFeeds.StepInputs inputs = feeds.build(grid, window, cache, extra)) {
            if (step == 0) {
                List<String> missing = feeds.missing(inputs);
                if (!missing.isEmpty()) {
                    throw new InferenceException(source + " has inputs " + missing
                            + " that generation does not feed; supply them through ExtraInputs");
                }
            }
            long start = System.nanoTime();
            OrtSession.Result result;
            try {
                result = session.run(inputs.feeds());
            } finally {
                runNanos[0] += System.nanoTime() - start;
            }
            cache.advance(result);
            return window;
        } catch (OrtException e) {
            throw new InferenceException("running " + source + " failed at generation step " + step + ": "
                    + e.getMessage(), e);
        }
    }

    /** The logits of each row's newest token in the latest run, as fresh float32 arrays (16-bit logits widened). */
    private float[][] lastLogits(KvCache cache, TokenGrid.Window window, int batch) {
        OnnxTensor tensor = cache.tensor(cache.latest(), layout.logits());
        long[] shape = tensor.getInfo().getShape();
        if (shape.length != 3 || shape[0] != batch) {
            throw new InferenceException("logits of " + source + " have shape " + Arrays.toString(shape)
                    + " but [" + batch + ", seq, vocab] was expected");
        }
        int seq = (int) shape[1];
        int vocab = (int) shape[2];
        FloatBuffer data = tensor.getFloatBuffer();
        float[][] rows = new float[batch][vocab];
        for (int r = 0; r < batch; r++) {
            // a graph that returns only the last position's logits has seq 1
            int at = seq == window.inputLength() ? window.lastIndex(r) : seq - 1;
            data.position((r * seq + at) * vocab);
            data.get(rows[r]);
        }
        return rows;
    }
}
