package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.generate.FinishReason;
import dev.onnxsteer.generate.Generation;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.NetworkConnector;

/**
 * The HTTP server of {@code onnx-steer serve} (Javalin on Jetty):
 * <ul>
 *   <li>{@code POST /v1/completions}: OpenAI completions ({@code prompt}, {@code max_tokens},
 *       {@code temperature}, {@code top_p}, {@code seed}, {@code stop}, {@code stream} as server-sent
 *       events, {@code usage}) plus {@code steering: [{"vector": NAME, "scale": C}]};</li>
 *   <li>{@code POST /v1/chat/completions}: the same with {@code messages} rendered by the model's chat
 *       template ({@link ChatCompletions});</li>
 *   <li>{@code GET|POST /v1/vectors}, {@code DELETE /v1/vectors/NAME} ({@link VectorsEndpoint});</li>
 *   <li>{@code GET /v1/models}, {@code GET /health}, {@code GET /metrics} (Prometheus text), and the
 *       playground page at {@code GET /}.</li>
 * </ul>
 * Requests are batched by a {@link BatchScheduler}. Errors are JSON {@code {"error": {...}}} bodies.
 * The server does not own the {@link ServedModel}; {@link #stop} drains in-flight requests first.
 */
public final class SteerServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final long HEARTBEAT_MS = 500;

    private final ServedModel model;
    private final ServerConfig config;
    private final ServerMetrics metrics = new ServerMetrics();
    private final BatchScheduler scheduler;
    private final Javalin app;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong ids = new AtomicLong();
    private final byte[] playground;
    private final ChatCompletions chat = new ChatCompletions(this);
    private final VectorsEndpoint vectors = new VectorsEndpoint(this);
    private volatile boolean draining;
    private volatile boolean stopped;
    private volatile int port;

    private SteerServer(ServedModel model, ServerConfig config) {
        this.model = model;
        this.config = config;
        this.playground = resource("playground.html");
        this.scheduler = new BatchScheduler(model, config.maxBatch(), config.maxQueue(), config.batchWindow(), metrics);
        this.app = Javalin.create(c -> {
            c.startup.showJavalinBanner = false;
            c.startup.showOldJavalinVersionWarning = false;
            c.http.compressionStrategy = CompressionStrategy.NONE;
            c.http.maxRequestSize = config.maxBodyBytes();
            c.routes.before(this::authorize);
            c.routes.get("/", ctx -> ctx.contentType("text/html; charset=utf-8").result(playground));
            c.routes.get("/health", this::health);
            c.routes.get("/metrics", ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(metrics.render()));
            c.routes.get("/v1/vectors", vectors::list);
            c.routes.post("/v1/vectors", vectors::upload);
            c.routes.delete("/v1/vectors/{name}", vectors::delete);
            c.routes.get("/v1/models", this::models);
            c.routes.post("/v1/completions", this::completions);
            c.routes.after("/v1/completions", ctx -> metrics.request(ctx.statusCode()));
            c.routes.post("/v1/chat/completions", chat::handle);
            c.routes.after("/v1/chat/completions", ctx -> metrics.request(ctx.statusCode()));
            c.routes.exception(ApiError.class, (e, ctx) -> error(ctx, e));
            c.routes.exception(HttpResponseException.class, (e, ctx) -> error(ctx, e.getStatus() == 404
                    ? new ApiError(404, "not_found_error", null, "no endpoint " + ctx.method() + " " + ctx.path()
                            + "; endpoints: POST /v1/completions, POST /v1/chat/completions, GET|POST /v1/vectors, DELETE /v1/vectors/NAME, GET /v1/models, GET /health,"
                            + " GET /metrics, GET /")
                    : new ApiError(e.getStatus(), "invalid_request_error", null, e.getMessage())));
            c.routes.exception(Exception.class, (e, ctx) ->
                    error(ctx, new ApiError(500, "server_error", null, "internal error: " + e)));
        });
    }

    /** Starts serving {@code model} on {@code config.host():config.port()} (port 0 picks a free port). */
    public static SteerServer start(ServedModel model, ServerConfig config) {
        SteerServer server = new SteerServer(model, config);
        try {
            server.app.start(config.host(), config.port());
            server.port = server.app.port();
        } catch (RuntimeException e) {
            server.scheduler.close();
            throw e;
        }
        return server;
    }

    /** The port actually bound. */
    public int port() {
        return port;
    }

    /** {@code http://HOST:PORT}. */
    public URI uri() {
        String host = config.host().contains(":") ? "[" + config.host() + "]" : config.host();
        return URI.create("http://" + host + ":" + port());
    }

    public ServerMetrics metrics() {
        return metrics;
    }

    /** The listening connectors (tests). */
    List<Connector> jettyConnectors() {
        return List.of(app.jettyServer().server().getConnectors());
    }

    /** The batcher, for tests that need its hooks. */
    BatchScheduler scheduler() {
        return scheduler;
    }

    private void authorize(Context ctx) {
        String key = config.apiKey();
        String path = ctx.path();
        if (key == null || !(path.startsWith("/v1/") || path.equals("/metrics"))) {
            return;
        }
        String header = ctx.header("Authorization");
        String expected = "Bearer " + key;
        if (header == null || !MessageDigest.isEqual(header.getBytes(StandardCharsets.UTF_8),
                expected.getBytes(StandardCharsets.UTF_8))) {
            ctx.header("WWW-Authenticate", "Bearer");
            throw new ApiError(401, "authentication_error", null,
                    "missing or wrong API key: send the header Authorization: Bearer KEY");
        }
    }

    private void health(Context ctx) {
        ObjectNode node = JSON.createObjectNode();
        node.put("status", draining ? "draining" : "ok");
        node.put("model", model.name());
        node.put("device", model.session().device().toString());
        node.put("vectors", model.vectors().names().size());
        node.put("queue_depth", scheduler.queueDepth());
        node.put("running", scheduler.running());
        ctx.status(draining ? 503 : 200).contentType("application/json").result(node.toString());
    }

    private void models(Context ctx) {
        ObjectNode root = JSON.createObjectNode();
        root.put("object", "list");
        ObjectNode m = root.putArray("data").addObject();
        m.put("id", model.name());
        m.put("object", "model");
        m.put("owned_by", "onnx-steer");
        ctx.contentType("application/json").result(root.toString());
    }

    private void completions(Context ctx) throws IOException {
        inFlight.incrementAndGet();
        try {
            refuseWhileDraining(ctx);
            CompletionRequest request = CompletionRequest.parse(readBody(ctx), config.maxTokensLimit());
            BoundSteering steering = bindSteering(request.steering());
            long[] ids = encode(request.prompt());
            CompletionJob job = new CompletionJob(request.prompt(), ids, request.generation(), steering,
                    config.requestTimeout().toNanos());
            admit(ctx, job);
            String id = "cmpl-" + Long.toHexString(System.currentTimeMillis()) + "-" + this.ids.incrementAndGet();
            long created = System.currentTimeMillis() / 1000;
            if (request.stream()) {
                stream(ctx, job, new StreamFormat() {
                    @Override
                    public String piece(String text) {
                        return chunk(id, created, text, null).toString();
                    }

                    @Override
                    public List<String> closing(Generation g) {
                        ObjectNode last = chunk(id, created, "", finishReason(g.finishReason()));
                        last.set("usage", usage(g));
                        return List.of(last.toString());
                    }
                });
            } else {
                Generation g = awaitAnswer(ctx, job);
                ObjectNode root = chunk(id, created, g.text(), finishReason(g.finishReason()));
                root.set("usage", usage(g));
                ctx.contentType("application/json").result(root.toString());
            }
        } finally {
            inFlight.decrementAndGet();
        }
    }

    /** Counts a request as in flight while {@code handler} runs, so a graceful stop waits for it. */
    void inFlight(Runnable handler) {
        inFlight.incrementAndGet();
        try {
            handler.run();
        } finally {
            inFlight.decrementAndGet();
        }
    }

    void refuseWhileDraining(Context ctx) {
        if (draining) {
            ctx.header("Retry-After", "5");
            throw new ApiError(503, "server_shutting_down", null, "the server is shutting down");
        }
    }

    /** Binds a request's steering to the vectors registered now (it keeps them) and checks it. */
    BoundSteering bindSteering(List<SteeringTerm> terms) {
        BoundSteering steering = new BoundSteering(terms, model.vectors());
        try {
            model.steering().validate(steering);
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest("steering", e.getMessage());
        }
        return steering;
    }

    /** Queues {@code job}, or answers 429 / 503. */
    void admit(Context ctx, CompletionJob job) {
        switch (scheduler.submit(job)) {
            case QUEUE_FULL -> {
                ctx.header("Retry-After", "1");
                throw new ApiError(429, "rate_limit_error", null, "the queue is full (" + config.maxQueue()
                        + " requests waiting); retry later");
            }
            case SHUTTING_DOWN -> {
                ctx.header("Retry-After", "5");
                throw new ApiError(503, "server_shutting_down", null, "the server is shutting down");
            }
            case ACCEPTED -> { }
        }
    }

    /** A fresh response id with the given prefix ({@code cmpl}, {@code chatcmpl}). */
    String nextId(String prefix) {
        return prefix + "-" + Long.toHexString(System.currentTimeMillis()) + "-" + ids.incrementAndGet();
    }

    /** Waits for a non-streaming job's generation, stopping it if its client goes away. */
    Generation awaitAnswer(Context ctx, CompletionJob job) {
        onClientGone(ctx, job::cancel);
        return await(job, ClientProbe.of(ctx));
    }

    ServedModel model() {
        return model;
    }

    ServerConfig config() {
        return config;
    }

    /** Reads the body, refusing more than the limit; the rest of an oversized body is drained (up to a bound) so the client sees the answer. */
    JsonNode readBody(Context ctx) throws IOException {
        byte[] body = readBytes(ctx, config.maxBodyBytes(), 400);
        if (body.length == 0) {
            throw ApiError.badRequest(null, "the request body is empty; expected a JSON object");
        }
        return RequestFields.parse(body).node();
    }

    /**
     * The request body, at most {@code limit} bytes; a larger one is answered {@code status} after
     * draining up to 16 times the limit plus 1 MiB of it, so the client reads the answer.
     */
    static byte[] readBytes(Context ctx, int limit, int status) throws IOException {
        long declared = ctx.req().getContentLengthLong();
        InputStream in = ctx.req().getInputStream();
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        long total = 0;
        int n;
        while ((n = in.read(chunk)) >= 0) {
            total += n;
            if (total > limit) {
                long drained = total;
                while (drained < 16L * limit + (1 << 20) && (n = in.read(chunk)) >= 0) {
                    drained += n;
                }
                throw tooLarge(limit, status);
            }
            buffer.write(chunk, 0, n);
        }
        if (declared > limit) {
            throw tooLarge(limit, status);
        }
        return buffer.toByteArray();
    }

    private static ApiError tooLarge(int limit, int status) {
        return new ApiError(status, "invalid_request_error", null, "the request body is larger than " + limit + " bytes");
    }

    private long[] encode(String prompt) {
        long[] ids;
        synchronized (model.tokenizer()) {
            ids = model.tokenizer().encode(prompt, true);
        }
        if (ids.length == 0) {
            if (model.tokenizer().bosTokenId().isEmpty()) {
                throw ApiError.badRequest("prompt", "the prompt is empty and the model has no BOS token to start from");
            }
            ids = new long[] {model.tokenizer().bosTokenId().getAsLong()};
        }
        checkContext(ids, "prompt");
        return ids;
    }

    /** Refuses a prompt of {@code ids} that leaves no room in the model's context. */
    void checkContext(long[] ids, String param) {
        if (model.config().maxPositions().isPresent() && ids.length >= model.config().maxPositions().getAsInt()) {
            throw ApiError.badRequest(param, "the prompt has " + ids.length + " tokens but the context of "
                    + model.name() + " is " + model.config().maxPositions().getAsInt() + " tokens");
        }
    }

    /** Runs {@code action} if Jetty reports that this request failed (a failed write, for one). */
    private static void onClientGone(Context ctx, Runnable action) {
        org.eclipse.jetty.server.Request request = coreRequest(ctx);
        if (request != null) {
            request.addFailureListener(failure -> action.run());
        }
    }

    private static org.eclipse.jetty.server.Request coreRequest(Context ctx) {
        jakarta.servlet.ServletRequest request = ctx.req();
        while (request instanceof jakarta.servlet.ServletRequestWrapper wrapper) {
            request = wrapper.getRequest();
        }
        return request instanceof org.eclipse.jetty.ee10.servlet.ServletApiRequest api ? api.getRequest() : null;
    }

    /**
     * Finds out whether the client of a non-streaming request has closed its connection while the
     * request waits for its generation. Jetty does not read from an HTTP/1.1 connection while its
     * request is handled, so nothing reports a client that silently goes away until the server
     * writes; this probe reads the socket itself, without blocking: end of stream (or a reset)
     * means the client has gone. The request body has been read by then, so any byte that does
     * arrive starts a pipelined next request: it is handed back to the connection and probing stops.
     * Only plain HTTP/1.1 sockets are probed; a client that half-closes its side (shutdownOutput)
     * after sending the request looks gone too.
     */
    private static final class ClientProbe {
        private final org.eclipse.jetty.server.internal.HttpConnection connection;
        private final java.nio.channels.SocketChannel channel;
        private boolean done;

        private ClientProbe(org.eclipse.jetty.server.internal.HttpConnection connection,
                java.nio.channels.SocketChannel channel) {
            this.connection = connection;
            this.channel = channel;
        }

        /** A probe for this request's connection, or null where it cannot be probed (TLS, HTTP/2, tests without Jetty). */
        static ClientProbe of(Context ctx) {
            try {
                org.eclipse.jetty.server.Request request = coreRequest(ctx);
                if (request != null
                        && request.getConnectionMetaData().getConnection()
                                instanceof org.eclipse.jetty.server.internal.HttpConnection http
                        && http.getEndPoint() instanceof org.eclipse.jetty.io.SocketChannelEndPoint endPoint
                        && endPoint.getConnection() == http) {
                    return new ClientProbe(http, endPoint.getChannel());
                }
            } catch (RuntimeException e) {
                // no probe: the request runs until done or timed out
            }
            return null;
        }

        /** True once the client's side of the connection is closed. */
        boolean clientGone() {
            if (done || !connection.isRequestBufferEmpty()) {
                return false; // a pipelined request is already buffered: the client is there
            }
            java.nio.ByteBuffer one = java.nio.ByteBuffer.allocate(1);
            int n;
            try {
                n = channel.read(one); // the channel is non-blocking (Jetty's selector owns it)
            } catch (IOException e) {
                done = true;
                return true; // reset by the client, or closed
            }
            if (n < 0) {
                done = true;
                return true;
            }
            if (n > 0) {
                one.flip();
                connection.onUpgradeTo(one); // the first byte of a pipelined request: give it back
                done = true;
            }
            return false;
        }
    }

    private static final long PROBE_MS = 100;

    private Generation await(CompletionJob job, ClientProbe probe) {
        long timeout = config.requestTimeout().toMillis() + 10_000;
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeout);
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

    private ApiError timedOut(String message) {
        return new ApiError(504, "timeout_error", null, message + " (limit " + config.requestTimeout().toSeconds() + " s)");
    }

    private ApiError failure(Throwable cause) {
        if (cause instanceof CompletionJob.DeadlineExceeded) {
            return timedOut(cause.getMessage());
        }
        if (cause instanceof ApiError api) {
            return api;
        }
        return new ApiError(500, "server_error", null, "generation failed: " + cause.getMessage());
    }

    /** How a streamed answer is framed: the events before the first piece, one per piece, and the last ones. */
    interface StreamFormat {
        default List<String> opening() {
            return List.of();
        }

        String piece(String text);

        List<String> closing(Generation g);
    }

    /** Server-sent events: {@code format}'s opening events, one per text piece, its closing events, then {@code [DONE]}. */
    void stream(Context ctx, CompletionJob job, StreamFormat format) {
        var res = ctx.res();
        res.setStatus(200);
        res.setContentType("text/event-stream; charset=utf-8");
        res.setHeader("Cache-Control", "no-cache");
        res.setHeader("X-Accel-Buffering", "no");
        try {
            OutputStream out = res.getOutputStream();
            out.flush();
            for (String opening : format.opening()) {
                event(out, opening);
            }
            long lastWrite = System.nanoTime();
            while (true) {
                String piece = job.nextPiece(100);
                if (piece != null) {
                    event(out, format.piece(piece));
                    lastWrite = System.nanoTime();
                    continue;
                }
                if (job.result().isDone()) {
                    String rest;
                    while ((rest = job.pollPiece()) != null) {
                        event(out, format.piece(rest));
                    }
                    break;
                }
                if (System.nanoTime() - lastWrite > HEARTBEAT_MS * 1_000_000) {
                    // a comment line: keeps proxies open and finds clients that have gone away
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    lastWrite = System.nanoTime();
                }
            }
            try {
                Generation g = job.result().get();
                for (String closing : format.closing(g)) {
                    event(out, closing);
                }
            } catch (ExecutionException e) {
                ApiError error = failure(e.getCause());
                event(out, errorBody(error).toString());
            }
            event(out, "[DONE]");
        } catch (IOException | UncheckedIOException e) {
            job.cancel(); // the client went away: its row stops at the next step
        } catch (InterruptedException e) {
            job.cancel();
            Thread.currentThread().interrupt();
        }
    }

    private static void event(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private ObjectNode chunk(String id, long created, String text, String finish) {
        ObjectNode root = JSON.createObjectNode();
        root.put("id", id);
        root.put("object", "text_completion");
        root.put("created", created);
        root.put("model", model.name());
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("text", text);
        choice.put("index", 0);
        choice.putNull("logprobs");
        if (finish == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finish);
        }
        return root;
    }

    static ObjectNode usage(Generation g) {
        ObjectNode usage = JSON.createObjectNode();
        usage.put("prompt_tokens", g.promptTokens());
        usage.put("completion_tokens", g.generatedTokens());
        usage.put("total_tokens", g.promptTokens() + g.generatedTokens());
        return usage;
    }

    /** OpenAI's names: an end-of-sequence token or a stop string is {@code stop}; the token limit is {@code length}. */
    static String finishReason(FinishReason reason) {
        return switch (reason) {
            case EOS, STOP -> "stop";
            case LENGTH -> "length";
            case CANCELLED -> "cancelled";
        };
    }

    private static void error(Context ctx, ApiError e) {
        ctx.status(e.status()).contentType("application/json").result(errorBody(e).toString());
    }

    private static ObjectNode errorBody(ApiError e) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", e.getMessage());
        error.put("type", e.type());
        if (e.param() == null) {
            error.putNull("param");
        } else {
            error.put("param", e.param());
        }
        error.putNull("code");
        return root;
    }

    private static byte[] resource(String name) {
        try (InputStream in = SteerServer.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("resource " + name + " is missing from the runtime jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Graceful stop: closes the listening socket (no new connections), answers 503 to new requests on
     * open connections, lets queued and running requests finish within the configured grace period
     * (then cancels the rest), and stops the HTTP server. Idempotent.
     *
     * @return true when every in-flight request finished within the grace period
     */
    public synchronized boolean stop() {
        if (stopped) {
            return true;
        }
        draining = true;
        for (Connector connector : app.jettyServer().server().getConnectors()) {
            if (connector instanceof NetworkConnector network) {
                network.close();
            }
        }
        boolean drained = scheduler.shutdown(config.shutdownGrace());
        long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (inFlight.get() > 0 && System.nanoTime() < until) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        app.stop();
        stopped = true;
        return drained;
    }

    @Override
    public void close() {
        stop();
    }
}
