package dev.onnxsteer.server;

import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.io.TritonConfig;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.PerRowInputs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes a Triton Inference Server model repository entry for the onnxruntime backend:
 * {@code REPO/NAME/config.pbtxt} and {@code REPO/NAME/1/model.onnx} (weights in {@code
 * model.onnx.data} beside it, plus the tokenizer and config files), with dynamic batching on.
 *
 * <p>Triton batches along the first dimension of every input and output, so the steering inputs
 * of a compiled model are made per-row and required ({@link PerRowInputs}); the configuration is
 * {@link TritonConfig}:
 * <ul>
 *   <li>an input-mode vector {@code steer.SITE.vector [batch, hidden]} is declared with dims
 *       {@code [hidden]};</li>
 *   <li>its scalar {@code steer.SITE.coefficient} becomes a per-row {@code [batch, 1]} input (it
 *       only feeds a {@code Mul} with the vector, which broadcasts), declared with dims {@code [1]};</li>
 *   <li>other inputs with defaults whose first dimension is the steering batch
 *       ({@value CompiledModelAbi#BATCH_DIM}: a bank's {@code [batch]} index and scale, a
 *       position mask's prompt length) are declared with their defaults removed; rank-1 ones as dims
 *       {@code [1]} reshaped to {@code []};</li>
 *   <li>inputs with defaults that are not batch-first (e.g. a vector bank {@code [K, hidden]}) stay
 *       constants of the model and are not declared.</li>
 * </ul>
 * A client sends zeros (vector) or 0 (coefficient) for a row it does not steer.
 */
public final class TritonExport {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");

    /**
     * What was written.
     *
     * @param directory     {@code REPO/NAME}
     * @param config        the model configuration, as written to {@code config.pbtxt}
     * @param steeringInputs inputs that carry steering per row
     * @param bakedInputs   inputs with defaults that became constants of the model
     */
    public record Result(Path directory, TritonConfig config, List<String> steeringInputs, List<String> bakedInputs) {}

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
        PerRowInputs inputs = new PerRowInputs();
        inputs.run(model);
        TritonConfig config = TritonConfig.of(model, name, maxBatch);
        write(model, source, target, config);
        return new Result(target.absolute(), config, inputs.perRow(), inputs.baked());
    }

    private static void write(Model model, ModelFiles source, OutputTarget target, TritonConfig config) {
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
            Files.writeString(staging.resolve(TritonConfig.FILE), config.text(), StandardCharsets.UTF_8);
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
