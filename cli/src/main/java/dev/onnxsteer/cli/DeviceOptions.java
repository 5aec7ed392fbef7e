package dev.onnxsteer.cli;

import dev.onnxsteer.session.Device;
import dev.onnxsteer.session.SessionConfig;
import java.io.PrintWriter;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import picocli.CommandLine.Option;

/** Where and how ONNX Runtime runs; mixed into every command that runs a model. */
final class DeviceOptions {
    @Option(names = "--device", paramLabel = "D", defaultValue = "auto",
            description = "auto, cpu, cuda or cuda:N (default ${DEFAULT-VALUE}; auto falls back to the CPU and says why).")
    String device;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "Intra-op threads (default 0 = one per physical core).")
    int threads;

    @Option(names = "--spin", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Let idle intra-op threads spin between operators (default); --no-spin makes them sleep, "
                    + "which is faster when other busy processes share the CPU.")
    boolean spin;

    @Option(names = "--memory-arena", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Allocate tensors from ONNX Runtime's CPU arena, which keeps freed blocks for the next run "
                    + "(default); --no-memory-arena frees each tensor, for a smaller resident size.")
    boolean memoryArena;

    /**
     * The session settings, with diagnostics such as the CUDA fallback reason printed on {@code err};
     * each distinct line once, as commands like parity open many sessions.
     */
    SessionConfig sessionConfig(PrintWriter err) {
        Set<String> printed = ConcurrentHashMap.newKeySet();
        return SessionConfig.defaults().withDevice(Device.parse(device)).withThreads(threads, 0).withSpinning(spin)
                .withMemoryArena(memoryArena).withDiagnostics(line -> {
                    if (printed.add(line)) {
                        err.println(line);
                        err.flush();
                    }
                });
    }
}
