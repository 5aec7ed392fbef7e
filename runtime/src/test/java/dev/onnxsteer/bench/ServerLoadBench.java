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
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Load benchmark of {@code serve} (not a test, issue 7): stories260K on loopback, first one client
 * sending requests back to back, then {@code bench.clients} (32) concurrent clients for {@code
 * bench.seconds} (60 s), each request with its own prompt, seed and steering (none, one vector,
 * another, or both), non-streaming, {@code max_tokens} 64 at temperature 0.8. Reports requests,
 * failures, p50/p99 latency, completion tokens per second and the mean batch size. Clients stop by
 * themselves when the time is up; exits 1 if any request failed.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.ServerLoadBench
 * -pl runtime -am verify} ({@code -Dbench.device=cpu|cuda|auto} as for the other benchmarks). Run with
 * {@code java} directly, the system properties {@code bench.clients}, {@code bench.seconds}, {@code
 * bench.single.seconds} and {@code bench.maxBatch} change the defaults.
 */
public final class ServerLoadBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Tom and Sue went to",
            "One day, a cat", "Lily saw a big", "The sun was");
    private static final List<String> STEERING = List.of("", "[{\"vector\": \"kind\", \"scale\": 3}]",
            "[{\"vector\": \"loud\", \"scale\": -2}]", "[{\"vector\": \"kind\", \"scale\": 2}, {\"vector\": \"loud\", \"scale\": 1}]");

    private ServerLoadBench() {}

    /** What one phase measured. */
    record Figures(String phase, int clients, double seconds, long requests, long failures, double p50Ms, double p99Ms,
            long tokens, double tokensPerSecond, double requestsPerSecond, double meanBatch) {}

    public static void main(String[] args) throws Exception {
        Device device = Device.parse(System.getProperty("bench.device", "cpu"));
        int clients = Integer.getInteger("bench.clients", 32);
        int seconds = Integer.getInteger("bench.seconds", 60);
        int singleSeconds = Integer.getInteger("bench.single.seconds", 20);
        int maxBatch = Integer.getInteger("bench.maxBatch", 32);
        Path model = GenerationBench.stories260K();
        Path vectors = Files.createDirectories(BenchModels.root().resolve("server-vectors"));
        VectorFiles.write(direction(2, 1), vectors.resolve("kind.gguf"));
        VectorFiles.write(direction(3, 2), vectors.resolve("loud.safetensors"));
        System.out.printf(Locale.ROOT, "machine: %d cores, %s %s, java %s, device %s, max batch %d%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"), System.getProperty("os.arch"),
                System.getProperty("java.version"), device, maxBatch);
        SessionConfig sessions = SessionConfig.cpu().withDevice(device).withDiagnostics(System.err::println);
        List<Figures> results = new ArrayList<>();
        try (ServedModel served = ServedModel.open(ModelFiles.locate(model, null), vectors, sessions)) {
            ServerConfig config = ServerConfig.defaults().withPort(0).withMaxBatch(maxBatch).withMaxQueue(Math.max(64, 2 * clients));
            try (SteerServer server = SteerServer.start(served, config)) {
                HttpClient http = HttpClient.newBuilder().executor(Executors.newFixedThreadPool(4)).build();
                phase("warm-up", server, http, 4, 5);
                results.add(phase("1 client", server, http, 1, singleSeconds));
                results.add(phase(clients + " clients", server, http, clients, seconds));
            }
        }
        System.out.println();
        System.out.println("| load | requests | failed | p50 latency ms | p99 latency ms | completion tok/s | requests/s | mean batch |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        for (Figures f : results) {
            System.out.printf(Locale.ROOT, "| %s, %.0f s | %d | %d | %.0f | %.0f | %.0f | %.1f | %.1f |%n", f.phase(), f.seconds(),
                    f.requests(), f.failures(), f.p50Ms(), f.p99Ms(), f.tokensPerSecond(), f.requestsPerSecond(), f.meanBatch());
        }
        long failed = results.stream().mapToLong(Figures::failures).sum();
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

    private static Figures phase(String name, SteerServer server, HttpClient http, int clients, int seconds) throws Exception {
        URI uri = server.uri().resolve("/v1/completions");
        String before = metric(server, "onnxsteer_batch_size_sum") + " " + metric(server, "onnxsteer_batches_total");
        List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
        AtomicLong tokens = new AtomicLong();
        AtomicLong failures = new AtomicLong();
        long start = System.nanoTime();
        long end = start + Duration.ofSeconds(seconds).toNanos();
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            running.add(pool.submit(() -> {
                for (int n = 0; System.nanoTime() < end; n++) {
                    String steering = STEERING.get((client + n) % STEERING.size());
                    String body = "{\"prompt\": \"" + PROMPTS.get((client * 7 + n) % PROMPTS.size()) + "\", \"max_tokens\": 64,"
                            + " \"temperature\": 0.8, \"seed\": " + (client * 100_000L + n)
                            + (steering.isEmpty() ? "" : ", \"steering\": " + steering) + "}";
                    long t0 = System.nanoTime();
                    try {
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(120))
                                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body))
                                .build(), HttpResponse.BodyHandlers.ofString());
                        if (r.statusCode() != 200) {
                            failures.incrementAndGet();
                            System.err.println("request failed: " + r.statusCode() + " " + r.body());
                            continue;
                        }
                        JsonNode json = JSON.readTree(r.body());
                        tokens.addAndGet(json.get("usage").get("completion_tokens").asLong());
                        latencies.add(System.nanoTime() - t0);
                    } catch (Exception e) {
                        failures.incrementAndGet();
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
        String[] b = before.split(" ");
        double rows = metric(server, "onnxsteer_batch_size_sum") - Double.parseDouble(b[0]);
        double batches = metric(server, "onnxsteer_batches_total") - Double.parseDouble(b[1]);
        List<Long> sorted = new ArrayList<>(latencies);
        Collections.sort(sorted);
        Figures f = new Figures(name, clients, wall, sorted.size() + failures.get(), failures.get(), percentile(sorted, 0.50),
                percentile(sorted, 0.99), tokens.get(), tokens.get() / wall, sorted.size() / wall,
                batches == 0 ? 0 : rows / batches);
        System.out.printf(Locale.ROOT, "%s: %d requests, %d failed, p50 %.0f ms, p99 %.0f ms, %.0f tok/s, mean batch %.1f%n",
                name, f.requests(), f.failures(), f.p50Ms(), f.p99Ms(), f.tokensPerSecond(), f.meanBatch());
        return f;
    }

    private static double percentile(List<Long> sortedNanos, double p) {
        if (sortedNanos.isEmpty()) {
            return 0;
        }
        int index = (int) Math.ceil(p * sortedNanos.size()) - 1;
        return sortedNanos.get(Math.max(0, Math.min(index, sortedNanos.size() - 1))) / 1e6;
    }

    private static double metric(SteerServer server, String name) {
        for (String line : server.metrics().render().split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1));
            }
        }
        return 0;
    }
}
