package dev.onnxsteer.cli;

import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.server.ServeOptions;
import dev.onnxsteer.server.ServedModel;
import dev.onnxsteer.server.ServerConfig;
import dev.onnxsteer.server.SteerServer;
import dev.onnxsteer.session.SessionConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code onnx-steer serve MODEL --vectors DIR}: HTTP completions with steering chosen per request. */
@Command(name = "serve", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = {"Serve a model over HTTP: OpenAI-compatible POST /v1/completions and /v1/chat/completions with a per-request"
                + " `steering` list of vectors from --vectors DIR, GET /v1/vectors, /health, /metrics, and a"
                + " playground page at /.",
                "Runs until SIGTERM or Ctrl-C, then stops accepting and lets in-flight requests finish."})
final class ServeCommand implements Callable<Integer> {
    /** Released when a running serve command should stop (tests; the JVM shutdown hook does it for SIGTERM). */
    static volatile CountDownLatch stopSignal;

    @Mixin
    CommonOptions common;

    @Mixin
    DeviceOptions devices;

    @Mixin
    LargeVectorOption largeVectors;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "Model directory or .onnx file (with tokenizer.json).")
    Path model;

    @Option(names = "--vectors", required = true, paramLabel = "DIR",
            description = "Directory of .gguf / .safetensors vector files; each is offered under its file name.")
    Path vectors;

    @Option(names = "--host", paramLabel = "ADDR", defaultValue = ServerConfig.DEFAULT_HOST,
            description = "Address to bind (default ${DEFAULT-VALUE}: this machine only).")
    String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "8080", description = "Port (default ${DEFAULT-VALUE}; 0 = any free port).")
    int port;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "Require `Authorization: Bearer KEY` on /v1/* and /metrics (default: $ONNX_STEER_API_KEY if set).")
    String apiKey;

    @Option(names = "--max-batch", paramLabel = "N", defaultValue = "16", description = "Most requests per batched run (default ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--max-queue", paramLabel = "N", defaultValue = "64",
            description = "Most requests waiting; more get 429 (default ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--max-tokens-limit", paramLabel = "N", defaultValue = "1024",
            description = "Largest max_tokens a request may ask for (default ${DEFAULT-VALUE}).")
    int maxTokensLimit;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "120",
            description = "Per-request time limit, queueing included (default ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Option(names = "--grace", paramLabel = "SECONDS", defaultValue = "30",
            description = "On shutdown, how long in-flight requests may take to finish (default ${DEFAULT-VALUE}).")
    int graceSeconds;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json (default: the one in the model directory).")
    Path tokenizerPath;

    @Option(names = "--chat-template", paramLabel = "FILE",
            description = "Jinja chat template for /v1/chat/completions (default: the model's chat_template).")
    Path chatTemplate;

    @Option(names = "--read-only-vectors", description = "Refuse POST and DELETE /v1/vectors: serve only the"
            + " vectors in --vectors DIR, steering only the sites they use.")
    boolean readOnlyVectors;

    @Option(names = "--allow-ablate-clamp", description = "Also take steering entries with \"op\": \"ablate\" or"
            + " \"clamp\" per request: every steerable site gets a per-row direction stage (a projection per site and"
            + " token).")
    boolean ablateClamp;

    @Option(names = "--sae", paramLabel = "NAME=DIR",
            description = {"Offer the features of a SAELens directory (cfg.json + sae_weights.safetensors) as NAME:"
                    + " requests steer with {\"sae\": NAME, \"feature\": N, \"scale\": C} (row N of W_dec at the site of"
                    + " its hook_name). Repeatable."})
    Map<String, Path> saes = new LinkedHashMap<>();

    @Option(names = "--max-vector-bytes", paramLabel = "N", defaultValue = "16777216",
            description = "Largest vector file POST /v1/vectors accepts (default ${DEFAULT-VALUE}).")
    int maxVectorBytes;

    @Override
    public Integer call() throws InterruptedException {
        PrintWriter err = spec.commandLine().getErr();
        String key = apiKey != null ? apiKey : System.getenv("ONNX_STEER_API_KEY");
        ServerConfig config = ServerConfig.defaults().withHost(host).withPort(port).withApiKey(key == null || key.isEmpty() ? null : key)
                .withMaxBatch(maxBatch).withMaxQueue(maxQueue).withMaxTokensLimit(maxTokensLimit)
                .withRequestTimeout(Duration.ofSeconds(timeoutSeconds)).withShutdownGrace(Duration.ofSeconds(graceSeconds));
        SessionConfig sessionConfig = devices.sessionConfig(err);
        ModelFiles files = ModelFiles.locate(model, tokenizerPath);
        CountDownLatch stop = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        stopSignal = stop;
        try (ServedModel served = ServedModel.open(files, vectors, sessionConfig,
                new ServeOptions(chatTemplate, readOnlyVectors, maxVectorBytes, largeVectors.allowLargeVectors,
                        ablateClamp, saes))) {
            SteerServer server = SteerServer.start(served, config);
            Thread hook = new Thread(() -> {
                stop.countDown();
                try {
                    done.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "onnx-steer-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            err.println("onnx-steer: serving " + served.name() + " on " + served.session().device() + " at " + server.uri()
                    + " with vectors " + served.vectors().names() + (key != null ? " (API key required)" : "")
                    + (served.chat().isPresent() ? "; chat template " + served.chat().get().origin() : "; no chat template")
                    + (readOnlyVectors ? "; vectors read-only" : "") + (ablateClamp ? "; ablate and clamp per request" : "")
                    + (served.conditional() ? "; steering condition compiled in" : "")
                    + (served.saeNames().isEmpty() ? "" : "; SAEs " + served.saeNames()));
            err.flush();
            try {
                stop.await();
                err.println("onnx-steer: stopping; in-flight requests have " + graceSeconds + " s to finish");
                err.flush();
                boolean drained = server.stop();
                err.println(drained ? "onnx-steer: stopped" : "onnx-steer: stopped; unfinished requests were cancelled");
                err.flush();
            } finally {
                server.stop();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running: it waits for `done`
                }
            }
        } finally {
            done.countDown();
            stopSignal = null;
        }
        return Main.OK;
    }
}
