package dev.onnxsteer.server;

import com.google.protobuf.TextFormat;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.passes.SteerPass;
import dev.onnxsteer.proto.triton.ModelConfig;
import dev.onnxsteer.proto.triton.ModelDynamicBatching;
import dev.onnxsteer.proto.triton.ModelInput;
import dev.onnxsteer.proto.triton.ModelInstanceGroup;
import dev.onnxsteer.proto.triton.ModelOutput;
import dev.onnxsteer.proto.triton.ModelTensorReshape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes a Triton Inference Server model repository entry for the onnxruntime backend:
 * {@code REPO/NAME/config.pbtxt} and {@code REPO/NAME/1/model.onnx} (weights in {@code
 * model.onnx.data} beside it, plus the tokenizer and config files), with dynamic batching on.
 *
 * <p>Triton batches along the first dimension of every input and output, so the steering inputs
 * of a compiled model are made per-row and required:
 * <ul>
 *   <li>an input-mode vector {@code steer.SITE.vector [batch, hidden]} is declared with dims
 *       {@code [hidden]};</li>
 *   <li>its scalar {@code steer.SITE.coefficient} becomes a per-row {@code [batch, 1]} input (it
 *       only feeds a {@code Mul} with the vector, which broadcasts), declared with dims {@code [1]};</li>
 *   <li>other inputs with defaults whose first dimension is the steering batch
 *       ({@value dev.onnxsteer.passes.SteerPass#BATCH_DIM}: a bank's {@code [batch]} index and scale, a
 *       position mask's prompt length) are declared with their defaults removed; rank-1 ones as dims
 *       {@code [1]} reshaped to {@code []};</li>
 *   <li>inputs with defaults that are not batch-first (e.g. a vector bank {@code [K, hidden]}) stay
 *       constants of the model and are not declared.</li>
 * </ul>
 * A client sends zeros (vector) or 0 (coefficient) for a row it does not steer.
 */
public final class TritonExport {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");
    private static final String CONFIG_FILE = "config.pbtxt";

    /**
     * What was written.
     *
     * @param directory     {@code REPO/NAME}
     * @param config        the model configuration, as written to {@code config.pbtxt}
     * @param steeringInputs inputs that carry steering per row
     * @param bakedInputs   inputs with defaults that became constants of the model
     */
    public record Result(Path directory, ModelConfig config, List<String> steeringInputs, List<String> bakedInputs) {}

    private TritonExport() {}

    /**
     * @param maxBatch Triton's {@code max_batch_size} (>= 1)
     * @throws IllegalArgumentException for a bad name, an existing non-empty target, or a model whose
     *     inputs or outputs are not batch-first
     */
    public static Result export(ModelFiles source, Path repo, String name, int maxBatch) {
        return export(source, repo, name, maxBatch, false);
    }

    /**
     * @param replace whether an existing non-empty {@code REPO/NAME} may be replaced (never one holding the source model)
     */
    public static Result export(ModelFiles source, Path repo, String name, int maxBatch, boolean replace) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("model name '" + name + "' must be letters, digits, '_', '.' or '-'"
                    + " and start with a letter or digit");
        }
        if (maxBatch < 1) {
            throw new IllegalArgumentException("max batch must be >= 1, got " + maxBatch);
        }
        OutputTarget target = new OutputTarget(repo.resolve(name), replace, source.paths());
        AtomicFiles.checkDirectoryTarget(target);
        Model model = ModelReader.read(source.onnx());
        Graph graph = model.graph();
        List<String> steering = new ArrayList<>();
        List<String> baked = new ArrayList<>();
        for (Value input : List.copyOf(graph.inputs())) {
            if (!input.isInitializer()) {
                continue;
            }
            String inputName = input.name();
            long[] dims = input.initializer().dims();
            ValueType.Tensor declared = input.tensorType();
            if (dims.length == 0 && inputName.endsWith(".coefficient") && onlyFeedsMul(input)) {
                InputModeSteering.lift(graph, inputName,
                        ValueType.Tensor.of(input.initializer().type(), Dim.param(SteerPass.BATCH_DIM), Dim.of(1)));
                steering.add(inputName);
            } else if (declared != null && declared.rank() >= 1
                    && declared.shape().get(0).equals(Dim.param(SteerPass.BATCH_DIM))) {
                InputModeSteering.lift(graph, inputName, declared);
                steering.add(inputName);
            } else {
                graph.removeInput(input);
                baked.add(input.name());
            }
        }
        // every steering input is now required or a constant: none has a default a runtime could override
        model.metadata().remove(Provenance.RUNTIME_INPUTS);
        ModelConfig.Builder config = ModelConfig.newBuilder()
                .setName(name)
                .setBackend("onnxruntime")
                .setMaxBatchSize(maxBatch)
                .setDynamicBatching(ModelDynamicBatching.newBuilder().setMaxQueueDelayMicroseconds(1000))
                .addInstanceGroup(ModelInstanceGroup.newBuilder().setKind(ModelInstanceGroup.Kind.KIND_AUTO).setCount(1))
                .setDefaultModelFilename(ModelFiles.MODEL_FILE);
        for (Value input : graph.inputs()) {
            ValueType.Tensor t = batchFirst(input, "input");
            ModelInput.Builder b = ModelInput.newBuilder().setName(input.name()).setDataType(tritonType(input, t));
            if (t.rank() == 1) {
                b.addDims(1).setReshape(ModelTensorReshape.newBuilder());
            } else {
                rest(t).forEach(b::addDims);
            }
            config.addInput(b);
        }
        for (Value output : graph.outputs()) {
            ValueType.Tensor t = batchFirst(output, "output");
            ModelOutput.Builder b = ModelOutput.newBuilder().setName(output.name()).setDataType(tritonType(output, t));
            if (t.rank() == 1) {
                b.addDims(1).setReshape(ModelTensorReshape.newBuilder());
            } else {
                rest(t).forEach(b::addDims);
            }
            config.addOutput(b);
        }
        ModelConfig built = config.build();
        write(model, source, target, built);
        return new Result(target.absolute(), built, steering, baked);
    }

    private static boolean onlyFeedsMul(Value value) {
        List<Use> uses = value.uses();
        return !uses.isEmpty() && uses.stream().allMatch(u -> u.node().opType().equals("Mul"));
    }

    private static ValueType.Tensor batchFirst(Value value, String what) {
        ValueType.Tensor t = value.tensorType();
        if (t == null || t.rank() <= 0 || t.shape().get(0).isFixed()) {
            throw new IllegalArgumentException(what + " " + value.name() + " has shape "
                    + (t == null ? "unknown" : t.toString()) + "; Triton's dynamic batching needs every input"
                    + " and output to have a variable batch dimension first");
        }
        return t;
    }

    private static List<Long> rest(ValueType.Tensor t) {
        List<Long> dims = new ArrayList<>();
        for (Dim d : t.shape().subList(1, t.rank())) {
            dims.add(d.isFixed() ? d.value() : -1L);
        }
        return dims;
    }

    static dev.onnxsteer.proto.triton.DataType tritonType(Value value, ValueType.Tensor t) {
        DataType type = t.elementType();
        return switch (type) {
            case FLOAT -> dev.onnxsteer.proto.triton.DataType.TYPE_FP32;
            case FLOAT16 -> dev.onnxsteer.proto.triton.DataType.TYPE_FP16;
            case BFLOAT16 -> dev.onnxsteer.proto.triton.DataType.TYPE_BF16;
            case DOUBLE -> dev.onnxsteer.proto.triton.DataType.TYPE_FP64;
            case INT64 -> dev.onnxsteer.proto.triton.DataType.TYPE_INT64;
            case INT32 -> dev.onnxsteer.proto.triton.DataType.TYPE_INT32;
            case INT16 -> dev.onnxsteer.proto.triton.DataType.TYPE_INT16;
            case INT8 -> dev.onnxsteer.proto.triton.DataType.TYPE_INT8;
            case UINT64 -> dev.onnxsteer.proto.triton.DataType.TYPE_UINT64;
            case UINT32 -> dev.onnxsteer.proto.triton.DataType.TYPE_UINT32;
            case UINT16 -> dev.onnxsteer.proto.triton.DataType.TYPE_UINT16;
            case UINT8 -> dev.onnxsteer.proto.triton.DataType.TYPE_UINT8;
            case BOOL -> dev.onnxsteer.proto.triton.DataType.TYPE_BOOL;
            case STRING -> dev.onnxsteer.proto.triton.DataType.TYPE_STRING;
            default -> throw new BadModelException(value.name() + " is " + type.label() + ", which Triton has no type for");
        };
    }

    private static void write(Model model, ModelFiles source, OutputTarget target, ModelConfig config) {
        Path staging = null;
        try {
            Files.createDirectories(target.absolute().getParent());
            staging = AtomicFiles.stagingDirectory(target.absolute());
            Path version = Files.createDirectories(staging.resolve("1"));
            ModelWriter.write(model, version.resolve(ModelFiles.MODEL_FILE), true);
            for (String companion : List.of(ModelFiles.TOKENIZER_FILE, ModelFiles.CONFIG_FILE, "tokenizer_config.json",
                    "generation_config.json", "special_tokens_map.json")) {
                Path file = companion.equals(ModelFiles.TOKENIZER_FILE) && source.tokenizer() != null ? source.tokenizer()
                        : source.directory().resolve(companion);
                if (Files.isRegularFile(file)) {
                    Files.copy(file, version.resolve(companion), StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
            Files.writeString(staging.resolve(CONFIG_FILE), TextFormat.printer().printToString(config),
                    StandardCharsets.UTF_8);
            readableByAll(staging);
            AtomicFiles.replaceDirectory(staging, target);
            staging = null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target.path() + ": " + e.getMessage(), e);
        } finally {
            if (staging != null) {
                AtomicFiles.deleteTree(staging);
            }
        }
    }

    /** Triton often runs as another user (in a container): files rw-r--r--, directories rwxr-xr-x, where POSIX. */
    private static void readableByAll(Path root) throws IOException {
        if (!Files.getFileStore(root).supportsFileAttributeView("posix")) {
            return;
        }
        List<Path> all;
        try (Stream<Path> walk = Files.walk(root)) {
            all = walk.toList();
        }
        for (Path p : all) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
        }
    }
}
