package dev.onnxsteer.io;

import dev.onnxsteer.ir.Model;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes a complete model directory ({@code model.onnx}, linked external data, tokenizer and
 * config carried over) into a staging directory beside the target and renames it into place, so
 * a failure (including a failed {@link LoadCheck}) leaves no half-written output and the input
 * directory is never touched.
 */
public final class ModelDirectoryWriter {
    private ModelDirectoryWriter() {}

    /**
     * @param source the files the model came from (companions are copied from its directory); may be null
     */
    public static void write(Model model, ModelFiles source, Path outDir) {
        write(model, source, outDir, LoadCheck.NONE);
    }

    /** As {@link #write(Model, ModelFiles, Path)}, running {@code check} on the staged model file before the rename. */
    public static void write(Model model, ModelFiles source, Path outDir, LoadCheck check) {
        checkTarget(source, outDir);
        Path target = outDir.toAbsolutePath().normalize();
        Path staging = null;
        try {
            staging = AtomicFiles.stagingDirectory(target);
            ModelWriter.write(model, staging.resolve(ModelFiles.MODEL_FILE));
            check.check(staging.resolve(ModelFiles.MODEL_FILE), source != null ? source.onnx() : null);
            if (source != null) {
                copyCompanions(source, staging);
            }
            replace(staging, target);
            staging = null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + outDir + ": " + e.getMessage(), e);
        } finally {
            if (staging != null) {
                AtomicFiles.deleteTree(staging);
            }
        }
    }

    /** Refuses an output that is the input directory, a file, or under a missing parent; call before doing work. */
    public static void checkTarget(ModelFiles source, Path outDir) {
        Path target = outDir.toAbsolutePath().normalize();
        if (source != null && Files.isDirectory(target) && sameFile(target, source.directory())) {
            throw new IllegalArgumentException("output directory " + outDir
                    + " is the input model's directory; choose another so the input is never overwritten");
        }
        if (Files.exists(target) && !Files.isDirectory(target)) {
            throw new IllegalArgumentException("output " + outDir + " exists and is not a directory");
        }
        Path parent = target.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("cannot write " + outDir + ": directory " + parent + " does not exist");
        }
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

    private static void replace(Path staging, Path target) throws IOException {
        if (!Files.exists(target)) {
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        Path old = Files.createTempDirectory(target.getParent(), "." + target.getFileName() + ".old-");
        Files.delete(old);
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        AtomicFiles.deleteTree(old);
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }
}
