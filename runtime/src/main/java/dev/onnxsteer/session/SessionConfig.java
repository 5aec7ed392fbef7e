package dev.onnxsteer.session;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * How to open a session.
 *
 * @param device         where to run; {@code auto} falls back to CPU
 * @param intraOpThreads threads inside one operator; 0 lets ONNX Runtime choose
 * @param interOpThreads threads across operators; 0 lets ONNX Runtime choose
 * @param optimization   graph optimization level
 * @param diagnostics    receives one-line diagnostics such as the CUDA fallback reason; never null
 */
public record SessionConfig(
        Device device, int intraOpThreads, int interOpThreads, GraphOptimization optimization,
        Consumer<String> diagnostics) {

    public SessionConfig {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(optimization, "optimization");
        if (intraOpThreads < 0 || interOpThreads < 0) {
            throw new IllegalArgumentException("thread counts must be >= 0 (0 = ONNX Runtime default), got intra "
                    + intraOpThreads + ", inter " + interOpThreads);
        }
        diagnostics = diagnostics == null ? line -> { } : diagnostics;
    }

    /** {@code auto} device, default threads, all optimizations, diagnostics dropped. */
    public static SessionConfig defaults() {
        return new SessionConfig(Device.AUTO, 0, 0, GraphOptimization.ALL, null);
    }

    /** CPU, default threads, all optimizations: what tests and parity checks usually want. */
    public static SessionConfig cpu() {
        return defaults().withDevice(Device.CPU);
    }

    public SessionConfig withDevice(Device value) {
        return new SessionConfig(value, intraOpThreads, interOpThreads, optimization, diagnostics);
    }

    public SessionConfig withThreads(int intraOp, int interOp) {
        return new SessionConfig(device, intraOp, interOp, optimization, diagnostics);
    }

    public SessionConfig withOptimization(GraphOptimization value) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, value, diagnostics);
    }

    public SessionConfig withDiagnostics(Consumer<String> value) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, optimization, value);
    }
}
