package dev.onnxsteer.io;

import dev.onnxsteer.ir.Model;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes a complete model directory ({@code model.onnx}, linked external data, tokenizer and
 * config carried over) into a staging directory beside the target and renames it into place, so
 * a failure (including a failed {@link LoadCheck}) leaves no half-written output and the input
 * directory is never touched.
 */
public final class ModelDirectoryWriter {
    private ModelDirectoryWriter() {}

    /** Writes into {@code outDir}, which must be missing or empty. */
    public static GenaiConfig.Update write(Model model, ModelFiles source, Path outDir) {
        return write(model, source, OutputTarget.refuseExisting(outDir));
    }

    /**
     * @param source the files the model came from (companions are copied from its directory); may be null
     * @param target where to write; the source's files are added to the inputs it protects
     */
    public static GenaiConfig.Update write(Model model, ModelFiles source, OutputTarget target) {
        return write(model, source, target, LoadCheck.NONE);
    }

    /**
     * As {@link #write(Model, ModelFiles, OutputTarget)}, running {@code check} on the staged model file before the
     * rename. Returns what keeping the copied {@value GenaiConfig#FILE} true to the model took (see {@link
     * GenaiConfig#update}).
     */
    public static GenaiConfig.Update write(Model model, ModelFiles source, OutputTarget target, LoadCheck check) {
        OutputTarget checked = checkTarget(source, target);
        Path staging = null;
        try {
            staging = AtomicFiles.stagingDirectory(checked.absolute());
            ModelWriter.write(model, staging.resolve(ModelFiles.MODEL_FILE));
            check.check(staging.resolve(ModelFiles.MODEL_FILE), source != null ? source.onnx() : null);
            GenaiConfig.Update genai = new GenaiConfig.Update(List.of(), List.of(), List.of());
            if (source != null) {
                copyCompanions(source, staging);
                genai = GenaiConfig.update(model, staging);
            }
            AtomicFiles.replaceDirectory(staging, checked);
            staging = null;
            return genai;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target.path() + ": " + e.getMessage(), e);
        } finally {
            if (staging != null) {
                AtomicFiles.deleteTree(staging);
            }
        }
    }

    /**
     * Refuses an output the target does not allow (see {@link AtomicFiles#checkDirectoryTarget}) or one
     * under a missing parent; call before doing work. Returns the target with the source's files among
     * its inputs.
     */
    public static OutputTarget checkTarget(ModelFiles source, OutputTarget target) {
        OutputTarget checked = source == null ? target : target.withInputs(source.paths());
        AtomicFiles.checkDirectoryTarget(checked);
        Path parent = checked.absolute().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("cannot write " + target.path() + ": directory " + parent + " does not exist");
        }
        return checked;
    }

    /** Tokenizer, config and other small metadata files travel with the model; .onnx files and data do not. */
    private static void copyCompanions(ModelFiles source, Path staging) throws IOException {
        if (source.tokenizer() != null) {
            Files.copy(source.tokenizer(), staging.resolve(ModelFiles.TOKENIZER_FILE));
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(source.directory(), "*.{json,txt,model}")) {
            for (Path file : files) {
                Path dest = staging.resolve(file.getFileName());
                if (Files.isRegularFile(file) && !Files.exists(dest)) {
                    Files.copy(file, dest);
                }
            }
        }
    }
}
