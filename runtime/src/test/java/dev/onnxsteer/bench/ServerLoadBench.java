package dev.onnxsteer.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.server.ServedModel;
import dev.onnxsteer.server.ServerConfig;
import dev.onnxsteer.server.SteerServer;
import dev.onnxsteer.session.Device;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.stream.Stream;

/**
 * Load benchmark of {@code serve} (not a test, issues 7 and 16): stories260K on loopback, plain and
 * streamed {@code /v1/completions} answers under the same loads, in one run. Each load ({@code
 * bench.clients}, default {@code 1,8} concurrent clients sending requests back to back) runs plain
 * and streamed for {@code bench.seconds} (5) each, {@code bench.rounds} (3) times, interleaved with
 * the order alternating per round, so a burst of load on a shared machine hits both. Every request
 * has its own prompt, seed and steering (none, one vector, another, or both), {@code max_tokens} 64
 * at temperature 0.8. Reports per load and mode: requests, failures, p50/p99 latency, for streams
 * the time to the first chunk with text as the client reads it (TTFT p50/p99), completion tokens per
 * second, the mean batch size and the CPU time per request (which the load of a shared machine
 * barely moves: what a stream costs beyond a plain answer shows there first); then the
 * streamed/plain ratios per load. Exits 1 if any request
 * failed.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.ServerLoadBench
 * -pl runtime -am verify} ({@code -Dbench.device=cpu|cuda|auto} as for the other benchmarks). Run with
 * {@code java} directly, the system properties {@code bench.clients}, {@code bench.seconds}, {@code
 * bench.rounds}, {@code bench.modes} ({@code plain,stream}) and {@code bench.maxBatch} change the
 * defaults, and {@code bench.targets=NAME=URL,NAME=URL} measures servers started outside it instead
 * (two builds compared in one run: start each with {@code serve} on the model and vectors directories
 * the benchmark prints, {@code --max-batch 32}), their loads interleaved the same way; {@code
 * bench.pids=PID,PID} (same order) names their processes for the CPU column. In process, the CPU
 * column counts the benchmark's clients too.
 */
public final class ServerLoadBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Tom and Sue went to",
            "One day, a cat", "Lily saw a big", "The sun was");
    private static final List<String> STEERING = List.of("", "[{\"vector\": \"kind\", \"scale\": 3}]",
            "[{\"vector\": \"loud\", \"scale\": -2}]", "[{\"vector\": \"kind\", \"scale\": 2}, {\"vector\": \"loud\", \"scale\": 1}]");
    private static final int MAX_TOKENS = 64;

    private ServerLoadBench() {}

    /** One load: which server, how many clients, streamed or not. */
    record Load(String target, int clients, boolean stream) {
        String label() {
            return (target.isEmpty() ? "" : target + ", ") + (clients == 1 ? "1 client" : clients + " clients") + ", "
                    + (stream ? "streamed" : "plain");
        }
    }

    /** What the rounds of one load measured, summed. */
    static final class Samples {
        final List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
        final List<Long> firstTokens = Collections.synchronizedList(new ArrayList<>());
        final AtomicLong tokens = new AtomicLong();
        final AtomicLong failures = new AtomicLong();
        double seconds;
        double rows;
        double batches;
        double cpuNanos;
    }

    /** A server to measure, and the CPU time its process has used so far. */
    record Target(URI uri, LongSupplier cpuNanos) {}

    public static void main(String[] args) throws Exception {
        Device device = Device.parse(System.getProperty("bench.device", "cpu"));
        int[] clientCounts = Arrays.stream(System.getProperty("bench.clients", "1,8").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        int seconds = Integer.getInteger("bench.seconds", 5);
        int rounds = Integer.getInteger("bench.rounds", 3);
        List<String> modes = List.of(System.getProperty("bench.modes", "plain,stream").split(","));
        int maxBatch = Integer.getInteger("bench.maxBatch", 32);
        int mostClients = Arrays.stream(clientCounts).max().orElse(1);
        Path model = GenerationBench.stories260K();
        Path vectors = Files.createDirectories(BenchModels.root().resolve("server-vectors"));
        VectorFiles.write(direction(2, 1), vectors.resolve("kind.gguf"));
        VectorFiles.write(direction(3, 2), vectors.resolve("loud.safetensors"));
        System.out.printf(Locale.ROOT, "machine: %d cores, %s %s, java %s, device %s, max batch %d, %d rounds of %d s per load%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"), System.getProperty("os.arch"),
                System.getProperty("java.version"), device, maxBatch, rounds, seconds);
        String targetsProperty = System.getProperty("bench.targets", "");
        List<String> pids = List.of(System.getProperty("bench.pids", "").split(","));
        Map<String, Target> targets = new LinkedHashMap<>();
        for (String target : targetsProperty.split(",")) {
            if (!target.isBlank()) {
                int eq = target.indexOf('=');
                String pid = targets.size() < pids.size() ? pids.get(targets.size()).trim() : "";
                targets.put(target.substring(0, eq).trim(), new Target(URI.create(target.substring(eq + 1).trim()),
                        pid.isEmpty() ? () -> 0 : processCpu(Long.parseLong(pid))));
            }
        }
        Map<Load, Samples> results = new LinkedHashMap<>();
        HttpClient http = HttpClient.newBuilder().executor(Executors.newFixedThreadPool(4)).build();
        if (targets.isEmpty()) {
            SessionConfig sessions = SessionConfig.cpu().withDevice(device).withDiagnostics(System.err::println);
            try (ServedModel served = ServedModel.open(ModelFiles.locate(model, null), vectors, sessions)) {
                ServerConfig config = ServerConfig.defaults().withPort(0).withMaxBatch(maxBatch).withMaxQueue(Math.max(64, 2 * mostClients));
                try (SteerServer server = SteerServer.start(served, config)) {
                    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
                    measure(Map.of("", new Target(server.uri(), os::getProcessCpuTime)), clientCounts, modes, rounds, seconds, http, results);
                }
            }
        } else {
            System.out.println("servers started outside the benchmark (serve " + model + " --vectors " + vectors + "): "
                    + targets.entrySet().stream().map(e -> e.getKey() + " " + e.getValue().uri()).toList());
            measure(targets, clientCounts, modes, rounds, seconds, http, results);
        }
        System.out.println();
        System.out.println("| load | requests | failed | p50 latency ms | p99 latency ms | TTFT p50 ms | TTFT p99 ms | completion tok/s | mean batch | CPU ms/request |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        long failed = 0;
        for (Map.Entry<Load, Samples> e : results.entrySet()) {
            Samples s = e.getValue();
            List<Long> latencies = sorted(s.latencies);
            List<Long> firsts = sorted(s.firstTokens);
            failed += s.failures.get();
            System.out.printf(Locale.ROOT, "| %s | %d | %d | %.1f | %.1f | %s | %s | %.0f | %.1f | %.1f |%n", e.getKey().label(),
                    latencies.size() + s.failures.get(), s.failures.get(), percentile(latencies, 0.50), percentile(latencies, 0.99),
                    e.getKey().stream() ? String.format(Locale.ROOT, "%.1f", percentile(firsts, 0.50)) : "-",
                    e.getKey().stream() ? String.format(Locale.ROOT, "%.1f", percentile(firsts, 0.99)) : "-",
                    s.tokens.get() / s.seconds, s.batches == 0 ? 0 : s.rows / s.batches,
                    latencies.isEmpty() ? 0 : s.cpuNanos / 1e6 / latencies.size());
        }
        System.out.println();
        for (String target : targets.isEmpty() ? List.of("") : List.copyOf(targets.keySet())) {
            for (int clients : clientCounts) {
                Samples plain = results.get(new Load(target, clients, false));
                Samples streamed = results.get(new Load(target, clients, true));
                if (plain != null && streamed != null) {
                    System.out.printf(Locale.ROOT, "%s%d client(s): streamed/plain p50 latency %.2fx, tok/s %.2fx, CPU per request %.2fx%n",
                            target.isEmpty() ? "" : target + ", ", clients,
                            percentile(sorted(streamed.latencies), 0.5) / percentile(sorted(plain.latencies), 0.5),
                            (streamed.tokens.get() / streamed.seconds) / (plain.tokens.get() / plain.seconds),
                            (streamed.cpuNanos / streamed.latencies.size()) / (plain.cpuNanos / plain.latencies.size()));
                }
            }
        }
        if (failed > 0) {
            System.out.println("FAILED: " + failed + " requests failed");
            System.exit(1);
        }
        System.exit(0);
    }

    private static SteeringVectors direction(int layer, long seed) {
        Random random = new Random(seed);
        float[] v = new float[64];
        double sum = 0;
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
            sum += v[i] * v[i];
        }
        for (int i = 0; i < v.length; i++) {
            v[i] *= (float) (4 / Math.sqrt(sum));
        }
        return SteeringVectors.of(Map.of(layer, v), VectorMetadata.defaults().withMethod("random"));
    }

    /**
     * Warms every target up, then runs the rounds: per round, per load, every target and mode in turn,
     * the order rotating from round to round.
     */
    private static void measure(Map<String, Target> targets, int[] clientCounts, List<String> modes, int rounds, int seconds,
            HttpClient http, Map<Load, Samples> results) throws Exception {
        List<String> names = List.copyOf(targets.keySet());
        for (String target : names) {
            for (String mode : modes) {
                phase(new Load(target, 4, mode.equals("stream")), targets.get(target), http, 3, new Samples());
            }
        }
        for (int clients : clientCounts) {
            for (String target : names) {
                for (String mode : modes) {
                    results.put(new Load(target, clients, mode.equals("stream")), new Samples());
                }
            }
        }
        int variants = names.size() * modes.size();
        for (int round = 0; round < rounds; round++) {
            for (int clients : clientCounts) {
                for (int v = 0; v < variants; v++) {
                    int k = (v + round) % variants;
                    Load load = new Load(names.get(k / modes.size()), clients, modes.get(k % modes.size()).equals("stream"));
                    phase(load, targets.get(load.target()), http, seconds, results.get(load));
                }
            }
        }
    }

    /** Runs {@code load} against the server at {@code base} for {@code seconds}, adding what it measured to {@code into}. */
    private static void phase(Load load, Target target, HttpClient http, int seconds, Samples into) throws Exception {
        URI base = target.uri();
        URI uri = base.resolve("/v1/completions");
        long cpuBefore = target.cpuNanos().getAsLong();
        double rowsBefore = metric(http, base, "onnxsteer_batch_size_sum");
        double batchesBefore = metric(http, base, "onnxsteer_batches_total");
        int before = into.latencies.size();
        long start = System.nanoTime();
        long end = start + Duration.ofSeconds(seconds).toNanos();
        ExecutorService pool = Executors.newFixedThreadPool(load.clients());
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < load.clients(); c++) {
            int client = c;
            running.add(pool.submit(() -> {
                for (int n = 0; System.nanoTime() < end; n++) {
                    String steering = STEERING.get((client + n) % STEERING.size());
                    String body = "{\"prompt\": \"" + PROMPTS.get((client * 7 + n) % PROMPTS.size()) + "\", \"max_tokens\": "
                            + MAX_TOKENS + ", \"temperature\": 0.8, \"seed\": " + (client * 100_000L + n)
                            + (steering.isEmpty() ? "" : ", \"steering\": " + steering) + ", \"stream\": " + load.stream() + "}";
                    HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(120))
                            .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
                    try {
                        if (load.stream()) {
                            streamed(http, request, into);
                        } else {
                            plain(http, request, into);
                        }
                    } catch (Exception e) {
                        into.failures.incrementAndGet();
                        System.err.println("request failed: " + e);
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : running) {
            f.get();
        }
        pool.shutdown();
        double wall = (System.nanoTime() - start) / 1e9;
        into.seconds += wall;
        into.rows += metric(http, base, "onnxsteer_batch_size_sum") - rowsBefore;
        into.batches += metric(http, base, "onnxsteer_batches_total") - batchesBefore;
        into.cpuNanos += target.cpuNanos().getAsLong() - cpuBefore;
        List<Long> mine = sorted(into.latencies.subList(before, into.latencies.size()));
        System.err.printf(Locale.ROOT, "%s, %.1f s: %d requests, p50 %.1f ms%n", load.label(), wall, mine.size(),
                percentile(mine, 0.5));
    }

    private static void plain(HttpClient http, HttpRequest request, Samples into) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException("status " + r.statusCode() + " " + r.body());
        }
        JsonNode json = JSON.readTree(r.body());
        into.latencies.add(System.nanoTime() - t0);
        into.tokens.addAndGet(json.get("usage").get("completion_tokens").asLong());
    }

    /** Reads the events as they arrive: the first with text marks the TTFT, the one with usage has the token count. */
    private static void streamed(HttpClient http, HttpRequest request, Samples into) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        HttpResponse<Stream<String>> r = http.send(request, HttpResponse.BodyHandlers.ofLines());
        if (r.statusCode() != 200) {
            throw new IOException("status " + r.statusCode() + " " + String.join("\n", r.body().toList()));
        }
        long first = 0;
        long tokens = -1;
        boolean done = false;
        try (Stream<String> lines = r.body()) {
            for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
                String line = it.next();
                if (!line.startsWith("data: ")) {
                    continue;
                }
                if (line.equals("data: [DONE]")) {
                    done = true;
                    continue;
                }
                if (first == 0 || line.contains("\"usage\"")) {
                    JsonNode chunk = JSON.readTree(line.substring(6));
                    if (first == 0 && !chunk.get("choices").get(0).get("text").asText().isEmpty()) {
                        first = System.nanoTime();
                    }
                    if (chunk.has("usage")) {
                        tokens = chunk.get("usage").get("completion_tokens").asLong();
                    }
                }
            }
        }
        long t1 = System.nanoTime();
        if (!done || tokens < 0) {
            throw new IOException("the stream ended without usage and [DONE]");
        }
        into.latencies.add(t1 - t0);
        if (first != 0) {
            into.firstTokens.add(first - t0);
        }
        into.tokens.addAndGet(tokens);
    }

    /** The CPU time process {@code pid} has used, every thread together (0 where the system does not say). */
    private static LongSupplier processCpu(long pid) {
        ProcessHandle process = ProcessHandle.of(pid).orElseThrow(() -> new IllegalArgumentException("no process " + pid));
        return () -> process.info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
    }

    private static List<Long> sorted(List<Long> values) {
        List<Long> copy;
        synchronized (values) {
            copy = new ArrayList<>(values);
        }
        Collections.sort(copy);
        return copy;
    }

    private static double percentile(List<Long> sortedNanos, double p) {
        if (sortedNanos.isEmpty()) {
            return 0;
        }
        int index = (int) Math.ceil(p * sortedNanos.size()) - 1;
        return sortedNanos.get(Math.max(0, Math.min(index, sortedNanos.size() - 1))) / 1e6;
    }

    private static double metric(HttpClient http, URI base, String name) throws IOException, InterruptedException {
        String metrics = http.send(HttpRequest.newBuilder(base.resolve("/metrics")).GET().build(),
                HttpResponse.BodyHandlers.ofString()).body();
        for (String line : metrics.split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1));
            }
        }
        return 0;
    }
}
