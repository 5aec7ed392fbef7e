package dev.onnxsteer.server;

import java.time.Duration;
import java.util.Objects;

/**
 * How a {@link SteerServer} listens and what it allows.
 *
 * @param host            address to bind; {@code 127.0.0.1} unless told otherwise
 * @param port            TCP port; 0 picks a free one
 * @param apiKey          when non-null, {@code /v1/*} and {@code /metrics} need {@code Authorization: Bearer KEY}
 * @param maxBatch        most requests in one batched run
 * @param maxQueue        most requests waiting; more get 429
 * @param maxBodyBytes    largest request body accepted
 * @param maxTokensLimit  largest {@code max_tokens} accepted
 * @param requestTimeout  how long one request may take, queueing included
 * @param batchWindow     how long the batcher waits for more requests after the first of a batch
 * @param shutdownGrace   how long a graceful stop lets in-flight requests finish
 */
public record ServerConfig(String host, int port, String apiKey, int maxBatch, int maxQueue, int maxBodyBytes,
        int maxTokensLimit, Duration requestTimeout, Duration batchWindow, Duration shutdownGrace) {

    public static final String DEFAULT_HOST = "127.0.0.1";

    public ServerConfig {
        Objects.requireNonNull(host, "host");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be 0..65535, got " + port);
        }
        if (apiKey != null && apiKey.isBlank()) {
            throw new IllegalArgumentException("the API key must not be blank");
        }
        if (maxBatch < 1 || maxQueue < 1 || maxBodyBytes < 1 || maxTokensLimit < 1) {
            throw new IllegalArgumentException("max batch, max queue, body and token limits must be >= 1");
        }
        Objects.requireNonNull(requestTimeout, "requestTimeout");
        Objects.requireNonNull(batchWindow, "batchWindow");
        Objects.requireNonNull(shutdownGrace, "shutdownGrace");
    }

    /** Loopback, port 8080, no key, batch 16, queue 64, 64 KiB bodies, 1024 tokens, 120 s timeout, 5 ms window, 30 s grace. */
    public static ServerConfig defaults() {
        return new ServerConfig(DEFAULT_HOST, 8080, null, 16, 64, 64 * 1024, 1024, Duration.ofSeconds(120),
                Duration.ofMillis(5), Duration.ofSeconds(30));
    }

    public ServerConfig withHost(String value) {
        return new ServerConfig(value, port, apiKey, maxBatch, maxQueue, maxBodyBytes, maxTokensLimit, requestTimeout, batchWindow, shutdownGrace);
    }

    public ServerConfig withPort(int value) {
        return new ServerConfig(host, value, apiKey, maxBatch, maxQueue, maxBodyBytes, maxTokensLimit, requestTimeout, batchWindow, shutdownGrace);
    }

    public ServerConfig withApiKey(String value) {
        return new ServerConfig(host, port, value, maxBatch, maxQueue, maxBodyBytes, maxTokensLimit, requestTimeout, batchWindow, shutdownGrace);
    }

    public ServerConfig withMaxBatch(int value) {
        return new ServerConfig(host, port, apiKey, value, maxQueue, maxBodyBytes, maxTokensLimit, requestTimeout, batchWindow, shutdownGrace);
    }

    public ServerConfig withMaxQueue(int value) {
        return new ServerConfig(host, port, apiKey, maxBatch, value, maxBodyBytes, maxTokensLimit, requestTimeout, batchWindow, shutdownGrace);
    }

    public ServerConfig withMaxBodyBytes(int value) {
        return new ServerConfig(host, port, apiKey, maxBatch, maxQueue, value, maxTokensLimit, requestTimeout, batchWindow, shutdownGrace);
    }

    public ServerConfig withMaxTokensLimit(int value) {
        return new ServerConfig(host, port, apiKey, maxBatch, maxQueue, maxBodyBytes, value, requestTimeout, batchWindow, shutdownGrace);
    }

    public ServerConfig withRequestTimeout(Duration value) {
        return new ServerConfig(host, port, apiKey, maxBatch, maxQueue, maxBodyBytes, maxTokensLimit, value, batchWindow, shutdownGrace);
    }

    public ServerConfig withBatchWindow(Duration value) {
        return new ServerConfig(host, port, apiKey, maxBatch, maxQueue, maxBodyBytes, maxTokensLimit, requestTimeout, value, shutdownGrace);
    }

    public ServerConfig withShutdownGrace(Duration value) {
        return new ServerConfig(host, port, apiKey, maxBatch, maxQueue, maxBodyBytes, maxTokensLimit, requestTimeout, batchWindow, value);
    }
}
