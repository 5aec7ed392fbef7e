package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.session.SessionConfig;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Authentication, the bounded queue, timeouts, client disconnects and graceful shutdown. */
class ServerLimitsTest {
    private static ServedModel model;

    @BeforeAll
    static void open() {
        model = ServedModel.open(Stories.files(), Stories.vectors(), SessionConfig.cpu());
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    private static ServerConfig config() {
        return ServerConfig.defaults().withPort(0);
    }

    /** Waits (up to 20 s) for {@code condition}, failing with {@code what}. */
    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > until) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(5);
        }
    }

    private static Runnable sleep(long millis) {
        return () -> {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
    }

    @Test
    void apiKeyIsRequiredOnTheApiButNotForHealthOrThePage() {
        try (SteerServer server = SteerServer.start(model, config().withApiKey("s3cret"))) {
            String body = "{\"prompt\": \"Hi\", \"max_tokens\": 3, \"temperature\": 0}";
            for (Http.Reply reply : List.of(
                    Http.post(server.uri(), "/v1/completions", body),
                    Http.post(server.uri(), "/v1/completions", body, "Authorization", "Bearer wrong"),
                    Http.post(server.uri(), "/v1/completions", body, "Authorization", "s3cret"),
                    Http.get(server.uri(), "/v1/vectors"),
                    Http.get(server.uri(), "/metrics"))) {
                assertEquals(401, reply.status(), reply.body());
                assertEquals("authentication_error", reply.json().get("error").get("type").asText());
                assertEquals("Bearer", reply.headers().firstValue("WWW-Authenticate").orElse(""));
            }
            assertEquals(200, Http.post(server.uri(), "/v1/completions", body, "Authorization", "Bearer s3cret").status());
            assertEquals(200, Http.get(server.uri(), "/v1/vectors", "Authorization", "Bearer s3cret").status());
            assertEquals(200, Http.get(server.uri(), "/health").status());
            assertEquals(200, Http.get(server.uri(), "/").status());
        }
    }

    /** An interrupted batch thread ends, keeping its interrupt flag; the server then refuses instead of queueing forever. */
    @Test
    void anInterruptedBatchThreadStopsAcceptingWork() throws Exception {
        try (SteerServer server = SteerServer.start(model, config())) {
            AtomicReference<Thread> worker = new AtomicReference<>();
            server.scheduler().hooks(() -> {
                worker.set(Thread.currentThread());
                Thread.currentThread().interrupt();
            }, () -> { });
            String body = "{\"prompt\": \"Hi\", \"max_tokens\": 2, \"temperature\": 0}";
            Http.post(server.uri(), "/v1/completions", body);
            await(() -> !server.scheduler().accepting(), "the interrupted batch thread to stop accepting");
            worker.get().join(10_000);
            assertFalse(worker.get().isAlive(), "the batch thread ended");
            Http.Reply after = Http.post(server.uri(), "/v1/completions", body);
            assertEquals(503, after.status(), after.body());
            assertEquals("server_shutting_down", after.json().get("error").get("type").asText());
        }
    }

    @Test
    void aFullQueueAnswers429WithRetryAfter() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        try (SteerServer server = SteerServer.start(model, config().withMaxBatch(1).withMaxQueue(1))) {
            server.scheduler().hooks(() -> {
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, () -> { });
            String body = "{\"prompt\": \"Hi\", \"max_tokens\": 4, \"temperature\": 0}";
            CompletableFuture<Http.Reply> first = Http.sendAsync(Http.completionRequest(server.uri(), body));
            await(() -> server.scheduler().running() == 1, "the first request to run");
            CompletableFuture<Http.Reply> second = Http.sendAsync(Http.completionRequest(server.uri(), body));
            await(() -> server.scheduler().queueDepth() == 1, "the second request to queue");
            Http.Reply third = Http.post(server.uri(), "/v1/completions", body);
            assertEquals(429, third.status(), third.body());
            assertEquals("1", third.headers().firstValue("Retry-After").orElse(""));
            assertEquals("rate_limit_error", third.json().get("error").get("type").asText());
            assertTrue(Http.get(server.uri(), "/metrics").body().contains("onnxsteer_queue_depth 1\n"));
            release.countDown();
            assertEquals(200, first.get(30, TimeUnit.SECONDS).status());
            assertEquals(200, second.get(30, TimeUnit.SECONDS).status());
            assertTrue(Http.get(server.uri(), "/metrics").body().contains("onnxsteer_requests_total{status=\"429\"} 1\n"));
        } finally {
            release.countDown();
        }
    }

    @Test
    void aRequestPastItsTimeoutGets504AndItsRowStops() {
        try (SteerServer server = SteerServer.start(model, config().withRequestTimeout(Duration.ofMillis(400)))) {
            server.scheduler().hooks(() -> { }, sleep(40));
            Http.Reply reply = Http.post(server.uri(), "/v1/completions",
                    "{\"prompt\": \"Hi\", \"max_tokens\": 200, \"temperature\": 0}");
            assertEquals(504, reply.status(), reply.body());
            assertEquals("timeout_error", reply.json().get("error").get("type").asText());
            Http.Reply streamed = Http.post(server.uri(), "/v1/completions",
                    "{\"prompt\": \"Hi\", \"max_tokens\": 200, \"temperature\": 0, \"stream\": true}");
            List<String> events = Http.events(streamed.body());
            assertEquals("[DONE]", events.get(events.size() - 1));
            assertTrue(events.get(events.size() - 2).contains("timeout_error"), streamed.body());
            server.scheduler().hooks(() -> { }, () -> { });
            assertEquals(200, Http.post(server.uri(), "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 3}").status());
        }
    }

    @Test
    void aClientThatDisconnectsStopsItsGeneration() throws Exception {
        try (SteerServer server = SteerServer.start(model, config())) {
            server.scheduler().hooks(() -> { }, sleep(20));
            String body = "{\"prompt\": \"Hi\", \"max_tokens\": 400, \"temperature\": 0, \"stream\": true}";
            try (Socket socket = new Socket("127.0.0.1", server.port())) {
                OutputStream out = socket.getOutputStream();
                out.write(rawCompletion(body).getBytes(StandardCharsets.UTF_8));
                out.flush();
                InputStream in = socket.getInputStream();
                StringBuilder seen = new StringBuilder();
                while (!seen.toString().contains("data: ")) {
                    int b = in.read();
                    if (b < 0) {
                        throw new AssertionError("closed early: " + seen);
                    }
                    seen.append((char) b);
                }
            }
            await(() -> server.scheduler().running() == 0, "the abandoned row to stop");
            assertTrue(server.metrics().render().contains("onnxsteer_cancelled_total 1\n"), server.metrics().render());
        }
    }

    /** A completion request as raw HTTP/1.1, for tests that control the connection themselves. */
    private static String rawCompletion(String body) {
        return "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
    }

    @Test
    void aNonStreamingClientThatDisconnectsStopsItsGeneration() throws Exception {
        try (SteerServer server = SteerServer.start(model, config())) {
            server.scheduler().hooks(() -> { }, sleep(20));
            String body = "{\"prompt\": \"Hi\", \"max_tokens\": 400, \"temperature\": 0}";
            try (Socket socket = new Socket("127.0.0.1", server.port())) {
                OutputStream out = socket.getOutputStream();
                out.write(rawCompletion(body).getBytes(StandardCharsets.UTF_8));
                out.flush();
                await(() -> server.scheduler().running() == 1, "the request to start generating");
                Thread.sleep(200);
            }
            await(() -> server.scheduler().running() == 0, "the abandoned row to stop");
            assertTrue(server.metrics().render().contains("onnxsteer_cancelled_total 1\n"), server.metrics().render());
        }
    }

    @Test
    void pipelinedNonStreamingRequestsAreAllAnswered() throws Exception {
        try (SteerServer server = SteerServer.start(model, config())) {
            server.scheduler().hooks(() -> { }, sleep(10));
            String body = "{\"prompt\": \"Hi\", \"max_tokens\": 60, \"temperature\": 0}";
            String request = rawCompletion(body);
            try (Socket socket = new Socket("127.0.0.1", server.port())) {
                socket.setSoTimeout(20_000);
                OutputStream out = socket.getOutputStream();
                out.write(request.getBytes(StandardCharsets.UTF_8));
                out.flush();
                await(() -> server.scheduler().running() == 1, "the first request to start generating");
                Thread.sleep(100);
                // the second request arrives while the first is generating
                out.write((request.replace("Host: localhost\r\n", "Host: localhost\r\nConnection: close\r\n"))
                        .getBytes(StandardCharsets.UTF_8));
                out.flush();
                String replies = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertEquals(2, replies.split("HTTP/1.1 200 OK", -1).length - 1, replies);
                assertEquals(2, replies.split("\"completion_tokens\":60", -1).length - 1, replies);
            }
            assertTrue(server.metrics().render().contains("onnxsteer_cancelled_total 0\n"), server.metrics().render());
        }
    }

    @Test
    void longRequestsOutliveTheConnectionIdleTimeout() throws Exception {
        try (SteerServer server = SteerServer.start(model, config())) {
            for (var c : server.jettyConnectors()) {
                ((org.eclipse.jetty.server.AbstractConnector) c).setIdleTimeout(500);
            }
            server.scheduler().hooks(() -> { }, sleep(30));
            Http.Reply reply = Http.post(server.uri(), "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 60, \"temperature\": 0}");
            assertEquals(200, reply.status(), reply.body());
            assertEquals(60, reply.json().get("usage").get("completion_tokens").asInt(), reply.body());
            Http.Reply streamed = Http.post(server.uri(), "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 60, \"temperature\": 0, \"stream\": true}");
            assertTrue(streamed.body().endsWith("data: [DONE]\n\n"), streamed.body());
        }
    }

    @Test
    void stopFinishesInFlightRequestsThenRefusesConnections() throws Exception {
        SteerServer server = SteerServer.start(model, config().withShutdownGrace(Duration.ofSeconds(20)));
        server.scheduler().hooks(() -> { }, sleep(10));
        String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 60, \"temperature\": 0}";
        CompletableFuture<Http.Reply> inFlight = Http.sendAsync(Http.completionRequest(server.uri(), body));
        await(() -> server.scheduler().running() == 1, "the request to start");
        long stopStart = System.nanoTime();
        CompletableFuture<Boolean> stopped = CompletableFuture.supplyAsync(server::stop);
        Http.Reply reply = inFlight.get(30, TimeUnit.SECONDS);
        assertEquals(200, reply.status(), reply.body());
        JsonNode usage = reply.json().get("usage");
        assertEquals(60, usage.get("completion_tokens").asInt());
        assertTrue(stopped.get(30, TimeUnit.SECONDS), "drained within the grace period");
        double seconds = (System.nanoTime() - stopStart) / 1e9;
        assertTrue(seconds < 5, "stop took " + seconds + " s");
        assertThrows(UncheckedIOException.class, () -> Http.get(server.uri(), "/health"));
    }
}
