package dev.onnxsteer.session;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * How to open a session.
 *
 * @param device         where to run; {@code auto} falls back to CPU
 * @param intraOpThreads threads inside one operator; 0 = one per physical core ({@link PhysicalCores})
 * @param interOpThreads threads across operators; 0 lets ONNX Runtime choose
 * @param spinning       whether idle intra-op threads spin waiting for work ({@code session.intra_op.allow_spinning},
 *                       ONNX Runtime's default) rather than sleep: spinning saves the wake-up between the many small
 *                       operators of a decode step, but on a CPU shared with other busy processes the spinning
 *                       threads take time from the threads doing the work
 * @param memoryArena    whether the CPU allocations go through ONNX Runtime's arena, which keeps freed blocks for
 *                       the next run (ONNX Runtime's default); without it each tensor is allocated and freed on its
 *                       own, which returns the memory between runs at the cost of an allocation per tensor
 * @param optimization   graph optimization level
 * @param diagnostics    receives one-line diagnostics such as the CUDA fallback reason; never null
 */
public record SessionConfig(
        Device device, int intraOpThreads, int interOpThreads, boolean spinning, boolean memoryArena,
        GraphOptimization optimization, Consumer<String> diagnostics) {

    public SessionConfig {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(optimization, "optimization");
        if (intraOpThreads < 0 || interOpThreads < 0) {
            throw new IllegalArgumentException("thread counts must be >= 0 (0 = default), got intra "
                    + intraOpThreads + ", inter " + interOpThreads);
        }
        diagnostics = diagnostics == null ? line -> { } : diagnostics;
    }

    /**
     * {@code auto} device, one intra-op thread per physical core, spinning, the memory arena, all optimizations,
     * diagnostics dropped.
     */
    public static SessionConfig defaults() {
        return new SessionConfig(Device.AUTO, 0, 0, true, true, GraphOptimization.ALL, null);
    }

    /** CPU, default threads, all optimizations: what tests and parity checks usually want. */
    public static SessionConfig cpu() {
        return defaults().withDevice(Device.CPU);
    }

    /** The intra-op threads a session gets: {@link #intraOpThreads()}, or the physical cores when that is 0. */
    public int resolvedIntraOpThreads() {
        return intraOpThreads > 0 ? intraOpThreads : PhysicalCores.count();
    }

    public SessionConfig withDevice(Device value) {
        return new SessionConfig(value, intraOpThreads, interOpThreads, spinning, memoryArena, optimization, diagnostics);
    }

    public SessionConfig withThreads(int intraOp, int interOp) {
        return new SessionConfig(device, intraOp, interOp, spinning, memoryArena, optimization, diagnostics);
    }

    public SessionConfig withSpinning(boolean value) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, value, memoryArena, optimization, diagnostics);
    }

    public SessionConfig withMemoryArena(boolean value) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, spinning, value, optimization, diagnostics);
    }

    public SessionConfig withOptimization(GraphOptimization value) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, spinning, memoryArena, value, diagnostics);
    }

    public SessionConfig withDiagnostics(Consumer<String> value) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, spinning, memoryArena, optimization, value);
    }
}
