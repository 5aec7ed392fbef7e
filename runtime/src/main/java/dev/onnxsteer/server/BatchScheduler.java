package dev.onnxsteer.server;

import dev.onnxsteer.generate.FinishReason;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.TokenListener;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Micro-batching: one thread takes queued {@link CompletionJob}s, up to {@code maxBatch} at a time
 * (waiting at most {@code window} for more after the first), and runs them as one batch of {@link
 * Generator#generateRows} whose rows each keep their own settings and steering (through {@link
 * RowSteering}). Jobs that arrive while a batch runs wait for the next one. The queue is bounded:
 * {@link #submit} refuses when it is full.
 */
public final class BatchScheduler implements AutoCloseable {
    /** What {@link #submit} did with a job. */
    public enum Admission { ACCEPTED, QUEUE_FULL, SHUTTING_DOWN }

    private final ServedModel model;
    private final int maxBatch;
    private final Duration window;
    private final ServerMetrics metrics;
    private final BlockingQueue<CompletionJob> queue;
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicInteger pending = new AtomicInteger();
    private final Thread worker;
    private volatile boolean accepting = true;
    private volatile boolean stopped;
    private volatile List<CompletionJob> current = List.of();
    /** Test hooks: run before each batch, and after each generated token (on the batch thread). */
    private volatile Runnable beforeBatch = () -> { };
    private volatile Runnable afterToken = () -> { };

    public BatchScheduler(ServedModel model, int maxBatch, int maxQueue, Duration window, ServerMetrics metrics) {
        if (maxBatch < 1 || maxQueue < 1) {
            throw new IllegalArgumentException("max batch and max queue must be >= 1, got " + maxBatch + " and " + maxQueue);
        }
        this.model = model;
        this.maxBatch = maxBatch;
        this.window = window;
        this.metrics = metrics;
        this.queue = new ArrayBlockingQueue<>(maxQueue);
        metrics.gauges(queue::size, running::get);
        this.worker = new Thread(this::loop, "onnx-steer-batcher");
        worker.setDaemon(true);
        worker.start();
    }

    /** Queues a job unless the queue is full or the scheduler is shutting down. */
    public Admission submit(CompletionJob job) {
        if (!accepting) {
            return Admission.SHUTTING_DOWN;
        }
        pending.incrementAndGet();
        if (!queue.offer(job)) {
            pending.decrementAndGet();
            return Admission.QUEUE_FULL;
        }
        job.result().whenComplete((g, e) -> pending.decrementAndGet());
        return Admission.ACCEPTED;
    }

    /** Package-private test hooks; see the fields. */
    void hooks(Runnable beforeBatch, Runnable afterToken) {
        this.beforeBatch = beforeBatch;
        this.afterToken = afterToken;
    }

    public int queueDepth() {
        return queue.size();
    }

    public int running() {
        return running.get();
    }

    public boolean accepting() {
        return accepting;
    }

    private void loop() {
        while (!stopped) {
            CompletionJob first;
            try {
                first = queue.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // kept, so whoever interrupted the worker can see it stopped for that
                break;
            }
            if (first == null) {
                continue;
            }
            List<CompletionJob> batch = new ArrayList<>();
            batch.add(first);
            long until = System.nanoTime() + window.toNanos();
            try {
                while (batch.size() < maxBatch) {
                    long left = until - System.nanoTime();
                    CompletionJob next = left > 0 ? queue.poll(left, TimeUnit.NANOSECONDS) : queue.poll();
                    if (next == null) {
                        break;
                    }
                    batch.add(next);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                batch.forEach(job -> job.fail(new IllegalStateException("server stopped")));
                break;
            }
            run(batch);
        }
        accepting = false; // nothing would run a job queued from now on
        List<CompletionJob> left = new ArrayList<>();
        queue.drainTo(left);
        left.forEach(job -> job.fail(new IllegalStateException("server stopped before the request ran")));
    }

    private void run(List<CompletionJob> candidates) {
        List<CompletionJob> batch = new ArrayList<>();
        for (CompletionJob job : candidates) {
            if (job.isCancelled()) {
                metrics.cancelled();
                job.fail(new IllegalStateException("cancelled before it ran"));
            } else if (job.pastDeadline()) {
                metrics.cancelled();
                job.fail(new CompletionJob.DeadlineExceeded("the request timed out waiting in the queue"));
            } else {
                batch.add(job);
            }
        }
        if (batch.isEmpty()) {
            return;
        }
        List<Generator.RowRequest> rows = new ArrayList<>();
        List<BoundSteering> steering = new ArrayList<>();
        for (CompletionJob job : batch) {
            job.started();
            metrics.queueWait((job.startedNanos() - job.arrivedNanos()) / 1e9);
            rows.add(new Generator.RowRequest(job.prompt(), job.promptIdsShared(), job.generation(), job::shouldStop));
            steering.add(job.steering());
        }
        current = batch;
        running.set(batch.size());
        metrics.batch(batch.size());
        Runnable tokenHook = afterToken;
        try (RowSteering.BatchInputs inputs = model.steering().inputsFor(steering)) {
            beforeBatch.run();
            List<Generation> results = model.generator().generateRows(rows, inputs, withDecisions(batch, (row, tokenId, piece) -> {
                batch.get(row).piece(piece);
                tokenHook.run();
            }));
            long now = System.nanoTime();
            for (int i = 0; i < batch.size(); i++) {
                CompletionJob job = batch.get(i);
                Generation g = results.get(i);
                if (g.finishReason() == FinishReason.CANCELLED) {
                    metrics.cancelled();
                    if (!job.isCancelled()) {
                        job.fail(new CompletionJob.DeadlineExceeded("the request timed out after "
                                + g.generatedTokens() + " tokens"));
                        continue;
                    }
                } else {
                    metrics.completion(g.promptTokens(), g.generatedTokens(), (now - job.arrivedNanos()) / 1e9);
                    job.conditionMet().ifPresent(metrics::condition);
                }
                job.complete(g);
            }
        } catch (RuntimeException | Error e) {
            batch.forEach(job -> job.fail(e));
        } finally {
            running.set(0);
            current = List.of();
        }
    }

    /**
     * {@code tokens}, also handing each row's steering-condition decision to its job. The decision rides in
     * the generator's cache like the KV cache does (a row keeps its own from prefill to its last token, and
     * rows that finish early leave it alone), so the batch only has to tell each job what its row decided.
     */
    private static TokenListener withDecisions(List<CompletionJob> batch, TokenListener tokens) {
        return new TokenListener() {
            @Override
            public void onToken(int row, long tokenId, String textPiece) {
                tokens.onToken(row, tokenId, textPiece);
            }

            @Override
            public void onCondition(int row, boolean met) {
                batch.get(row).conditionMet(met);
            }
        };
    }

    /**
     * Stops accepting jobs and waits up to {@code grace} for queued and running jobs to finish; then
     * cancels whatever is left and stops the worker.
     *
     * @return true when everything finished within the grace period
     */
    public boolean shutdown(Duration grace) {
        accepting = false;
        long until = System.nanoTime() + grace.toNanos();
        while (pending.get() > 0 && System.nanoTime() < until) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        boolean drained = pending.get() == 0;
        current.forEach(CompletionJob::cancel);
        stopped = true;
        try {
            worker.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return drained;
    }

    @Override
    public void close() {
        shutdown(Duration.ZERO);
    }
}
