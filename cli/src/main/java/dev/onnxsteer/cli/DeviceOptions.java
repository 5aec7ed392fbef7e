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

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Intra-op threads; 0 = ONNX Runtime default.")
    int threads;

    /**
     * The session settings, with diagnostics such as the CUDA fallback reason printed on {@code err};
     * each distinct line once, as commands like parity open many sessions.
     */
    SessionConfig sessionConfig(PrintWriter err) {
        Set<String> printed = ConcurrentHashMap.newKeySet();
        return SessionConfig.defaults().withDevice(Device.parse(device)).withThreads(threads, 0)
                .withDiagnostics(line -> {
                    if (printed.add(line)) {
                        err.println(line);
                        err.flush();
                    }
                });
    }
}
