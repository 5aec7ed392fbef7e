package dev.onnxsteer.server;

import dev.onnxsteer.generate.Generation;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Waits for a queued job's generation on the request's thread and turns what went wrong into the
 * {@link ApiError} the client gets: 504 past the deadline, 503 when interrupted, 500 when the batch failed.
 */
final class JobAnswers {
    /** How often a waiting request checks whether its client has gone. */
    private static final long PROBE_MS = 100;
    /** Slack beyond the request timeout: the batch thread itself stops a row at its deadline. */
    private static final long SLACK_MS = 10_000;

    private final ServerConfig config;

    JobAnswers(ServerConfig config) {
        this.config = config;
    }

    /** The job's generation; cancels it when {@code probe} (may be null) finds its client gone. */
    Generation await(CompletionJob job, ClientProbe probe) {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.requestTimeout().toMillis() + SLACK_MS);
        try {
            while (true) {
                long left = until - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException();
                }
                try {
                    return job.result().get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(PROBE_MS)), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    if (probe != null && !job.isCancelled() && probe.clientGone()) {
                        job.cancel(); // its row stops at the next step; the answer goes nowhere
                    }
                }
            }
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
            throw new ApiError(503, "server_error", null, "interrupted");
        } catch (TimeoutException e) {
            job.cancel();
            throw timedOut("the request timed out");
        } catch (ExecutionException e) {
            throw failure(e.getCause());
        }
    }

    /** What the client is told about a job that completed exceptionally with {@code cause}. */
    ApiError failure(Throwable cause) {
        if (cause instanceof CompletionJob.DeadlineExceeded) {
            return timedOut(cause.getMessage());
        }
        if (cause instanceof ApiError api) {
            return api;
        }
        return new ApiError(500, "server_error", null, "generation failed: " + cause.getMessage());
    }

    private ApiError timedOut(String message) {
        return new ApiError(504, "timeout_error", null, message + " (limit " + config.requestTimeout().toSeconds() + " s)");
    }
}
