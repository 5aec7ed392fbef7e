package dev.onnxsteer.session;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.InferenceException;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.passes.LiftInputDefaults;
import dev.onnxsteer.io.CompiledModelAbi;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

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

    /**
     * Opens a model file (external-data files are resolved next to it by ONNX Runtime). A compiled
     * model whose metadata lists overridable steering inputs ({@link CompiledModelAbi#RUNTIME_INPUTS}) is
     * reopened from a copy in which those inputs are required, their defaults held by the session
     * (see {@link ModelSession#inputDefaults()}).
     */
    public static ModelSession open(Path model, SessionConfig config) {
        if (!Files.isRegularFile(model)) {
            throw new BadModelException("model file " + model + " does not exist or is not a file");
        }
        // the IR read maps the file without copying weights: far cheaper than a session to look at metadata
        Model ir = ModelReader.read(model);
        if (CompiledModelAbi.hasRuntimeInputs(ir)) {
            return ofGraph(openLifted(ir, model.toString(), config), ir);
        }
        String path = model.toAbsolutePath().toString();
        return ofGraph(open(model.toString(), config, options -> Ort.env().createSession(path, options)), ir);
    }

    /** {@code session} knowing what {@code model}, the graph it runs, holds: its operators and in-place cache pairs. */
    private static ModelSession ofGraph(ModelSession session, Model model) {
        return session.withGraph(operators(model), InPlaceCache.pairs(model));
    }

    /** What {@link ModelSession#operators()} reports for {@code model}. */
    static Set<String> operators(Model model) {
        Set<String> operators = new TreeSet<>();
        for (Graph graph : model.graph().allGraphs()) {
            for (Node node : graph.nodes()) {
                boolean standard = node.domain().isEmpty() || node.domain().equals("ai.onnx");
                operators.add(standard ? node.opType() : node.domain() + "." + node.opType());
            }
        }
        return operators;
    }

    /**
     * Opens a model from its serialized bytes (as the compiler hands over in-memory models).
     *
     * @param label names the model in error messages, e.g. the file it will be written to
     */
    public static ModelSession open(byte[] model, String label, SessionConfig config) {
        return open(label, config, options -> Ort.env().createSession(model, options));
    }

    /**
     * Opens a model held in memory (e.g. compiled for one command). Without external data it is
     * handed to ONNX Runtime as bytes; with external data it is written to a temporary directory
     * (its weight files linked, not copied), opened, and the directory removed again.
     */
    public static ModelSession open(Model model, String label, SessionConfig config) {
        if (CompiledModelAbi.hasRuntimeInputs(model)) {
            return ofGraph(openLifted(model, label, config), model);
        }
        return ofGraph(openAsIs(model, label, config), model);
    }

    /** Lifts the steering inputs' defaults, opens the lifted model, restores the defaults in {@code model}. */
    private static ModelSession openLifted(Model model, String label, SessionConfig config) {
        LiftInputDefaults lift = LiftInputDefaults.of(LiftInputDefaults.steeringInputs(model));
        lift.run(model);
        Map<String, Tensor> defaults = lift.defaults();
        ModelSession session;
        try {
            session = openAsIs(model, label, config);
        } finally {
            lift.restore(model);
        }
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Tensor> entry : defaults.entrySet()) {
                tensors.put(entry.getKey(), toOnnx(entry.getValue(), entry.getKey(), label));
            }
        } catch (RuntimeException e) {
            tensors.values().forEach(OnnxTensor::close);
            session.close();
            throw e;
        }
        return session.withDefaults(tensors);
    }

    /** An ONNX Runtime tensor holding an IR tensor's data (float32, int64 or int32). */
    static OnnxTensor toOnnx(Tensor tensor, String name, String label) {
        long[] shape = tensor.dims();
        return switch (tensor.type()) {
            case FLOAT -> Tensors.floats(tensor.toFloats(), shape);
            case INT64 -> Tensors.ints(OnnxJavaType.INT64, tensor.toLongs(), shape);
            case INT32 -> Tensors.ints(OnnxJavaType.INT32, tensor.toLongs(), shape);
            default -> throw new BadModelException("input " + name + " of " + label + " has a default of type "
                    + tensor.type().label() + "; only float32, int64 and int32 defaults can be fed from Java");
        };
    }

    private static ModelSession openAsIs(Model model, String label, SessionConfig config) {
        boolean external = model.graph().allGraphs().stream()
                .flatMap(g -> g.initializers().stream()).anyMatch(v -> v.initializer().isExternal());
        if (!external) {
            return open(ModelWriter.toBytes(model), label, config);
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("onnx-steer-session");
            Path file = dir.resolve(ModelFiles.MODEL_FILE);
            ModelWriter.write(model, file);
            // the staged copy is already lifted: open it as it is, without looking at its metadata again
            String path = file.toAbsolutePath().toString();
            return open(label, config, options -> Ort.env().createSession(path, options));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot stage " + label + " for ONNX Runtime: " + e.getMessage(), e);
        } finally {
            if (dir != null) {
                AtomicFiles.deleteTree(dir);
            }
        }
    }

    private interface Creator {
        OrtSession create(OrtSession.SessionOptions options) throws OrtException;
    }

    private static ModelSession open(String source, SessionConfig config, Creator creator) {
        Device wanted = config.device();
        if (wanted.kind() == Device.Kind.CPU) {
            return createCpu(source, config, creator);
        }
        Device cuda = wanted.isCuda() ? wanted : Device.cuda(0);
        // without the libraries the provider cannot load; trying anyway costs seconds and makes ONNX
        // Runtime print its own "Failed to load library" error, so neither auto nor cuda:N tries
        Optional<String> missing = CudaProbe.missingLibrary();
        if (missing.isPresent() && wanted.kind() == Device.Kind.AUTO) {
            config.diagnostics().accept("device auto: CUDA not used (" + missing.get()
                    + " not found on the library path); running on CPU");
            return createCpu(source, config, creator);
        }
        if (missing.isPresent()) {
            throw new InferenceException("cannot open " + source + " on " + cuda + ": " + missing.get()
                    + " not found on the library path (the CUDA provider needs the CUDA 12 and cuDNN 9 libraries)");
        }
        try {
            return new ModelSession(createWith(config, cuda, creator), cuda, source);
        } catch (OrtException | RuntimeException e) {
            String reason = firstLine(e.getMessage());
            if (wanted.kind() == Device.Kind.AUTO) {
                config.diagnostics().accept("device auto: CUDA failed (" + reason + "); running on CPU");
                return createCpu(source, config, creator);
            }
            throw new InferenceException("cannot open " + source + " on " + cuda + ": " + reason, e);
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
        NativeLibraries.useCache(); // before SessionOptions, whose class loads ONNX Runtime
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(config.optimization().ortLevel());
            options.setIntraOpNumThreads(config.resolvedIntraOpThreads());
            options.addConfigEntry("session.intra_op.allow_spinning", config.spinning() ? "1" : "0");
            options.setCPUArenaAllocator(config.memoryArena());
            if (config.interOpThreads() > 0) {
                options.setInterOpNumThreads(config.interOpThreads());
            }
            if (device.isCuda()) {
                NativeLibraries.prepareCuda();
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
