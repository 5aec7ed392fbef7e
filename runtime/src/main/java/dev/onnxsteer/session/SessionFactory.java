package dev.onnxsteer.session;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.InferenceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Opens {@link ModelSession}s from a model file or from serialized model bytes with the
 * {@code --device} semantics:
 * <ul>
 *   <li>{@code cpu}: CPU only.</li>
 *   <li>{@code cuda:N}: the CUDA provider on device N; if it cannot be used the call fails with
 *       an {@link InferenceException}.</li>
 *   <li>{@code auto}: when {@link CudaProbe} finds the CUDA libraries, tries {@code cuda:0};
 *       otherwise, or when that fails, uses the CPU and reports one line saying why through
 *       {@link SessionConfig#diagnostics()}.</li>
 * </ul>
 * Errors from ONNX Runtime become {@link InferenceException}s naming the model.
 */
public final class SessionFactory {
    private SessionFactory() {}

    /** Opens a model file (external-data files are resolved next to it by ONNX Runtime). */
    public static ModelSession open(Path model, SessionConfig config) {
        if (!Files.isRegularFile(model)) {
            throw new BadModelException("model file " + model + " does not exist or is not a file");
        }
        String path = model.toAbsolutePath().toString();
        return open(model.toString(), config, options -> Ort.env().createSession(path, options));
    }

    /**
     * Opens a model from its serialized bytes (as the compiler hands over in-memory models).
     *
     * @param label names the model in error messages, e.g. the file it will be written to
     */
    public static ModelSession open(byte[] model, String label, SessionConfig config) {
        return open(label, config, options -> Ort.env().createSession(model, options));
    }

    private interface Creator {
        OrtSession create(OrtSession.SessionOptions options) throws OrtException;
    }

    private static ModelSession open(String source, SessionConfig config, Creator creator) {
        Device wanted = config.device();
        if (wanted.kind() == Device.Kind.CPU) {
            return createCpu(source, config, creator);
        }
        if (wanted.kind() == Device.Kind.AUTO) {
            Optional<String> missing = CudaProbe.missingLibrary();
            if (missing.isPresent()) {
                config.diagnostics().accept("device auto: CUDA not used (" + missing.get()
                        + " not found on the library path); running on CPU");
                return createCpu(source, config, creator);
            }
        }
        Device cuda = wanted.isCuda() ? wanted : Device.cuda(0);
        try {
            return new ModelSession(createWith(config, cuda, creator), cuda, source);
        } catch (OrtException | RuntimeException e) {
            String reason = firstLine(e.getMessage());
            if (wanted.kind() == Device.Kind.AUTO) {
                config.diagnostics().accept("device auto: CUDA failed (" + reason + "); running on CPU");
                return createCpu(source, config, creator);
            }
            String hint = CudaProbe.missingLibrary().map(lib -> " (" + lib + " not found on the library path)").orElse("");
            throw new InferenceException("cannot open " + source + " on " + cuda + ": " + reason + hint, e);
        }
    }

    private static ModelSession createCpu(String source, SessionConfig config, Creator creator) {
        try {
            return new ModelSession(createWith(config, Device.CPU, creator), Device.CPU, source);
        } catch (OrtException e) {
            throw new InferenceException("cannot load model " + source + ": " + firstLine(e.getMessage()), e);
        }
    }

    private static OrtSession createWith(SessionConfig config, Device device, Creator creator) throws OrtException {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(config.optimization().ortLevel());
            if (config.intraOpThreads() > 0) {
                options.setIntraOpNumThreads(config.intraOpThreads());
            }
            if (config.interOpThreads() > 0) {
                options.setInterOpNumThreads(config.interOpThreads());
            }
            if (device.isCuda()) {
                options.addCUDA(device.index());
            }
            return creator.create(options);
        }
    }

    static String firstLine(String message) {
        if (message == null || message.isBlank()) {
            return "no message";
        }
        String line = message.strip();
        int newline = line.indexOf('\n');
        return newline < 0 ? line : line.substring(0, newline).strip();
    }
}
