package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.generate.FinishReason;
import dev.onnxsteer.generate.Generation;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.Context;
import io.javalin.http.Handler;
import io.javalin.http.HttpResponseException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
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

    private final ServedModel model;
    private final ServerConfig config;
    private final ServerMetrics metrics = new ServerMetrics();
    private final BatchScheduler scheduler;
    private final Javalin app;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong ids = new AtomicLong();
    private final byte[] playground;
    private final Completions completions = new Completions(this);
    private final ChatCompletions chat = new ChatCompletions(this);
    private final JobAnswers answers;
    private final VectorsEndpoint vectors = new VectorsEndpoint(this);
    private volatile boolean draining;
    private volatile boolean stopped;
    private volatile int port;

    private SteerServer(ServedModel model, ServerConfig config) {
        this.model = model;
        this.config = config;
        this.answers = new JobAnswers(config);
        this.playground = resource("playground.html");
        if (model.conditional()) {
            metrics.countConditions();
        }
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
            c.routes.post("/v1/completions", counted(completions::respond));
            c.routes.after("/v1/completions", ctx -> metrics.request(ctx.statusCode()));
            c.routes.post("/v1/chat/completions", counted(chat::respond));
            c.routes.after("/v1/chat/completions", ctx -> metrics.request(ctx.statusCode()));
            c.routes.exception(ApiError.class, (e, ctx) -> e.respond(ctx));
            c.routes.exception(HttpResponseException.class, (e, ctx) -> (e.getStatus() == 404
                    ? new ApiError(404, "not_found_error", null, "no endpoint " + ctx.method() + " " + ctx.path()
                            + "; endpoints: POST /v1/completions, POST /v1/chat/completions, GET|POST /v1/vectors, DELETE /v1/vectors/NAME, GET /v1/models, GET /health,"
                            + " GET /metrics, GET /")
                    : new ApiError(e.getStatus(), "invalid_request_error", null, e.getMessage())).respond(ctx));
            c.routes.exception(Exception.class, (e, ctx) ->
                    new ApiError(500, "server_error", null, "internal error: " + e).respond(ctx));
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

    /** {@code handler}, counting its request as in flight while it runs, so a graceful stop waits for it. */
    private Handler counted(Handler handler) {
        return ctx -> {
            inFlight.incrementAndGet();
            try {
                handler.handle(ctx);
            } finally {
                inFlight.decrementAndGet();
            }
        };
    }

    void refuseWhileDraining(Context ctx) {
        if (draining) {
            ctx.header("Retry-After", "5");
            throw new ApiError(503, "server_shutting_down", null, "the server is shutting down");
        }
    }

    /**
     * Binds a request's steering to the vectors registered now and the decoder rows of the SAE features it
     * names (it keeps them), and checks it.
     */
    BoundSteering bindSteering(List<SteeringTerm> terms) {
        try {
            BoundSteering steering = new BoundSteering(terms, model.saes().bind(terms, model.vectors()));
            model.steering().validate(steering);
            return steering;
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest("steering", e.getMessage());
        }
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
        ClientProbe.onClientGone(ctx, job::cancel);
        return answers.await(job, ClientProbe.of(ctx));
    }

    ServedModel model() {
        return model;
    }

    ServerConfig config() {
        return config;
    }

    /** Reads the body as JSON, refusing more than the limit; the rest of an oversized body is drained (up to a bound) so the client sees the answer. */
    JsonNode readBody(Context ctx) throws IOException {
        return RequestBody.json(ctx, config.maxBodyBytes());
    }

    /** The prompt's token ids (BOS for an empty prompt), refused when the context or the model's vocabulary cannot take them. */
    long[] encode(String prompt) {
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
        checkPrompt(ids, "prompt");
        return ids;
    }

    /**
     * Refuses (400 about {@code param}) a prompt of {@code ids} that leaves no room in the model's context,
     * or that holds an id the model cannot embed (a tokenizer whose post-processor or added tokens reach
     * beyond the model's vocabulary), before ONNX Runtime would fail on it inside a batch.
     */
    void checkPrompt(long[] ids, String param) {
        try {
            model.generator().requireEmbeddable(ids);
        } catch (BadModelException e) {
            long id = Arrays.stream(ids).filter(i -> i < 0 || i >= model.generator().vocabSize().getAsInt()).findFirst()
                    .orElseThrow(() -> e);
            throw ApiError.badRequest(param, "the tokenizer encodes the " + (param.equals("messages") ? "messages" : "prompt")
                    + " to token id " + id + ", which " + model.name() + " cannot embed (its vocabulary is ids 0 to "
                    + (model.generator().vocabSize().getAsInt() - 1) + "); the server's tokenizer.json does not fit its model");
        }
        if (model.config().maxPositions().isPresent() && ids.length >= model.config().maxPositions().getAsInt()) {
            throw ApiError.badRequest(param, "the prompt has " + ids.length + " tokens but the context of "
                    + model.name() + " is " + model.config().maxPositions().getAsInt() + " tokens");
        }
    }

    /** Server-sent events: {@code format}'s opening events, one per text piece, its closing events, then {@code [DONE]}. */
    void stream(Context ctx, CompletionJob job, EventStream.Format format) {
        EventStream.stream(ctx, job, format, answers);
    }

    static ObjectNode usage(Generation g) {
        ObjectNode usage = JSON.createObjectNode();
        usage.put("prompt_tokens", g.promptTokens());
        usage.put("completion_tokens", g.generatedTokens());
        usage.put("total_tokens", g.promptTokens() + g.generatedTokens());
        return usage;
    }

    /**
     * Adds {@code "steering": {"condition_met": B}} to an answer's choice (the non-streamed one, or the last
     * chunk's) when the served model decided a steering condition for the job: an extra field, so OpenAI
     * clients read the standard ones unchanged.
     */
    static void reportCondition(ObjectNode choice, CompletionJob job) {
        job.conditionMet().ifPresent(met -> choice.putObject("steering").put("condition_met", met));
    }

    /** OpenAI's names: an end-of-sequence token or a stop string is {@code stop}; the token limit is {@code length}. */
    static String finishReason(FinishReason reason) {
        return switch (reason) {
            case EOS, STOP -> "stop";
            case LENGTH -> "length";
            case CANCELLED -> "cancelled";
        };
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
