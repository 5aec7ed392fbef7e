package dev.onnxsteer.server;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.function.IntSupplier;

/**
 * Counters, gauges and histograms of a server, written in the Prometheus text exposition format
 * (version 0.0.4). Thread-safe; updates never block.
 */
public final class ServerMetrics {
    private static final double[] LATENCY_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    private static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128};

    private final Map<String, AtomicLong> requests = new TreeMap<>();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong generatedTokens = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong cancelled = new AtomicLong();
    private final AtomicLong conditionMet = new AtomicLong();
    private final AtomicLong conditionNotMet = new AtomicLong();
    private volatile boolean conditional;
    private final Histogram latency = new Histogram(LATENCY_BUCKETS);
    private final Histogram queueWait = new Histogram(LATENCY_BUCKETS);
    private final Histogram batchSize = new Histogram(BATCH_BUCKETS);
    private volatile IntSupplier queueDepth = () -> 0;
    private volatile IntSupplier running = () -> 0;

    /** A cumulative histogram with fixed upper bounds. */
    static final class Histogram {
        private final double[] bounds;
        private final AtomicLongArray counts;
        private final DoubleAdder sum = new DoubleAdder();
        private final AtomicLong count = new AtomicLong();

        Histogram(double[] bounds) {
            this.bounds = bounds.clone();
            this.counts = new AtomicLongArray(bounds.length);
        }

        void observe(double value) {
            for (int i = 0; i < bounds.length; i++) {
                if (value <= bounds[i]) {
                    counts.incrementAndGet(i);
                    break;
                }
            }
            sum.add(value);
            count.incrementAndGet();
        }

        void write(StringBuilder out, String name) {
            long cumulative = 0;
            for (int i = 0; i < bounds.length; i++) {
                cumulative += counts.get(i);
                out.append(name).append("_bucket{le=\"").append(number(bounds[i])).append("\"} ").append(cumulative).append('\n');
            }
            out.append(name).append("_bucket{le=\"+Inf\"} ").append(count.get()).append('\n');
            out.append(name).append("_sum ").append(number(sum.sum())).append('\n');
            out.append(name).append("_count ").append(count.get()).append('\n');
        }
    }

    /** Where the current queue depth and running-request count are read from. */
    void gauges(IntSupplier queueDepth, IntSupplier running) {
        this.queueDepth = queueDepth;
        this.running = running;
    }

    /** One finished HTTP request to the completions endpoint, by status code. */
    public void request(int status) {
        AtomicLong counter;
        synchronized (requests) {
            counter = requests.computeIfAbsent(Integer.toString(status), k -> new AtomicLong());
        }
        counter.incrementAndGet();
    }

    /** One completed generation: its tokens and its time from arrival to last token. */
    public void completion(int prompt, int generated, double seconds) {
        promptTokens.addAndGet(prompt);
        generatedTokens.addAndGet(generated);
        latency.observe(seconds);
    }

    public void batch(int size) {
        batches.incrementAndGet();
        batchSize.observe(size);
    }

    public void queueWait(double seconds) {
        queueWait.observe(seconds);
    }

    public void cancelled() {
        cancelled.incrementAndGet();
    }

    /** Renders the steering-condition counter: the served model has a compiled condition. */
    void countConditions() {
        conditional = true;
    }

    /** One completed request's steering-condition decision. */
    public void condition(boolean met) {
        (met ? conditionMet : conditionNotMet).incrementAndGet();
    }

    public long generatedTokens() {
        return generatedTokens.get();
    }

    /** The Prometheus text exposition of every metric. */
    public String render() {
        StringBuilder out = new StringBuilder();
        out.append("# HELP onnxsteer_requests_total Completion requests answered, by HTTP status.\n");
        out.append("# TYPE onnxsteer_requests_total counter\n");
        synchronized (requests) {
            if (requests.isEmpty()) {
                out.append("onnxsteer_requests_total{status=\"200\"} 0\n");
            }
            requests.forEach((status, n) -> out.append("onnxsteer_requests_total{status=\"").append(status)
                    .append("\"} ").append(n.get()).append('\n'));
        }
        counter(out, "onnxsteer_prompt_tokens_total", "Prompt tokens of completed requests.", promptTokens.get());
        counter(out, "onnxsteer_generated_tokens_total", "Tokens generated for completed requests.", generatedTokens.get());
        counter(out, "onnxsteer_batches_total", "Batched model runs (one generation over a batch).", batches.get());
        counter(out, "onnxsteer_cancelled_total", "Requests stopped early (client gone or timed out).", cancelled.get());
        if (conditional) {
            out.append("# HELP onnxsteer_condition_total Completed requests by whether their prompt met the model's"
                    + " steering condition.\n# TYPE onnxsteer_condition_total counter\n");
            out.append("onnxsteer_condition_total{met=\"false\"} ").append(conditionNotMet.get()).append('\n');
            out.append("onnxsteer_condition_total{met=\"true\"} ").append(conditionMet.get()).append('\n');
        }
        gauge(out, "onnxsteer_queue_depth", "Requests waiting for a batch.", queueDepth.getAsInt());
        gauge(out, "onnxsteer_running_requests", "Requests in the batch now generating.", running.getAsInt());
        out.append("# HELP onnxsteer_batch_size Rows per batch.\n# TYPE onnxsteer_batch_size histogram\n");
        batchSize.write(out, "onnxsteer_batch_size");
        out.append("# HELP onnxsteer_request_latency_seconds Time from arrival to the last token.\n");
        out.append("# TYPE onnxsteer_request_latency_seconds histogram\n");
        latency.write(out, "onnxsteer_request_latency_seconds");
        out.append("# HELP onnxsteer_queue_wait_seconds Time from arrival to the start of its batch.\n");
        out.append("# TYPE onnxsteer_queue_wait_seconds histogram\n");
        queueWait.write(out, "onnxsteer_queue_wait_seconds");
        return out.toString();
    }

    private static void counter(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n").append(name).append(' ').append(value).append('\n');
    }

    private static void gauge(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" gauge\n").append(name).append(' ').append(value).append('\n');
    }

    private static String number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }
}
