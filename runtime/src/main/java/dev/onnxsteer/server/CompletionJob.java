package dev.onnxsteer.server;

import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One queued completion: what to generate, how it is steered, its deadline, the text pieces
 * produced so far (for streaming) and its result. The generating thread fills it; the request's
 * thread reads it and may {@link #cancel} it at any time.
 */
public final class CompletionJob {
    private final String prompt;
    private final long[] promptIds;
    private final GenerationConfig generation;
    private final BoundSteering steering;
    private final long arrivedNanos;
    private final long deadlineNanos;
    private final AtomicBoolean cancelled = new AtomicBoolean();
    private final StreamedPieces pieces = new StreamedPieces();
    private final CompletableFuture<Generation> result = new CompletableFuture<>();
    private volatile long startedNanos;
    private volatile Boolean conditionMet;

    /**
     * @param timeoutNanos how long the job may take from now, queueing included; after that it stops
     *                     and its result is a {@link DeadlineExceeded}
     */
    public CompletionJob(String prompt, long[] promptIds, GenerationConfig generation, BoundSteering steering,
            long timeoutNanos) {
        this.prompt = Objects.requireNonNull(prompt, "prompt");
        this.promptIds = promptIds.clone();
        this.generation = Objects.requireNonNull(generation, "generation");
        this.steering = Objects.requireNonNull(steering, "steering");
        this.arrivedNanos = System.nanoTime();
        this.deadlineNanos = arrivedNanos + timeoutNanos;
        result.whenComplete((g, e) -> pieces.close()); // after its last piece, however it ends
    }

    /** The job ran past its deadline (in the queue or while generating). */
    public static final class DeadlineExceeded extends RuntimeException {
        DeadlineExceeded(String message) {
            super(message);
        }
    }

    public String prompt() {
        return prompt;
    }

    public long[] promptIds() {
        return promptIds.clone();
    }

    long[] promptIdsShared() {
        return promptIds;
    }

    public GenerationConfig generation() {
        return generation;
    }

    /** Its steering and the vectors it was admitted with. */
    public BoundSteering steering() {
        return steering;
    }

    public long arrivedNanos() {
        return arrivedNanos;
    }

    long startedNanos() {
        return startedNanos;
    }

    void started() {
        startedNanos = System.nanoTime();
    }

    boolean pastDeadline() {
        return System.nanoTime() - deadlineNanos > 0;
    }

    /** Stops the job: dropped if still queued, its row ends at the next step if generating. */
    public void cancel() {
        cancelled.set(true);
    }

    public boolean isCancelled() {
        return cancelled.get();
    }

    /** Whether its row should stop now. */
    boolean shouldStop() {
        return cancelled.get() || pastDeadline();
    }

    void piece(String text) {
        if (!text.isEmpty()) {
            pieces.add(text);
        }
    }

    /** The pieces produced so far and not yet taken, for a stream. */
    StreamedPieces pieces() {
        return pieces;
    }

    /** Set by the batch thread after the prefill when the served model has a compiled steering condition. */
    void conditionMet(boolean met) {
        conditionMet = met;
    }

    /**
     * Whether the prompt met the served model's compiled steering condition (the graph's decision, kept for
     * the whole generation); empty for a model without one or before the prefill ran. Final once {@link
     * #result} is done.
     */
    public Optional<Boolean> conditionMet() {
        return Optional.ofNullable(conditionMet);
    }

    /** Completes with the generation, or exceptionally: {@link DeadlineExceeded}, or the failure of its batch. */
    public CompletableFuture<Generation> result() {
        return result;
    }

    void complete(Generation generation) {
        result.complete(generation);
    }

    void fail(Throwable error) {
        result.completeExceptionally(error);
    }
}
