package dev.onnxsteer.io;

import dev.onnxsteer.BadModelException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Resolves external-data references safely. A location must be a relative path inside the model
 * directory: absolute paths, {@code ..} segments and symlinks that lead outside are refused
 * (the path-traversal holes ONNX's Python loader had in 2024), as are ranges past the file's end.
 */
final class ExternalData {
    private final Path modelFile;
    private final Path realDirectory;

    ExternalData(Path modelFile) {
        this.modelFile = modelFile;
        try {
            this.realDirectory = modelFile.toAbsolutePath().getParent().toRealPath();
        } catch (IOException e) {
            throw new BadModelException(FileProblem.message(modelFile, "cannot resolve the model directory",
                    "a readable directory", e.getMessage()));
        }
    }

    /** The file a tensor's {@code location} names, after the safety checks. */
    Path resolve(String tensorName, String location, long offset, long length) {
        String tensor = "external data of tensor '" + FileProblem.printable(tensorName) + "'";
        if (location == null || location.isEmpty()) {
            throw bad(tensor + " has no location", "a location key", "none");
        }
        String shown = "'" + FileProblem.printable(location) + "'";
        if (location.startsWith("/") || location.startsWith("\\") || location.matches("^[A-Za-z]:.*")
                || Path.of(location).isAbsolute()) {
            throw bad(tensor + ": location " + shown + " is absolute", "a path relative to the model directory", location);
        }
        if (location.replace('\\', '/').matches("(^|.*/)\\.\\.(/.*|$)")) {
            throw bad(tensor + ": location " + shown + " contains '..'", "a path inside the model directory", location);
        }
        Path file = realDirectory.resolve(location);
        if (!Files.exists(file)) {
            throw bad(tensor + ": file " + shown + " is missing", "a file at " + FileProblem.printable(file.toString()),
                    "nothing there");
        }
        Path real;
        long size;
        try {
            real = file.toRealPath();
            size = Files.size(real);
        } catch (IOException e) {
            throw bad(tensor + ": file " + shown + " cannot be read", "a readable file", e.getMessage());
        }
        if (!real.startsWith(realDirectory)) {
            throw bad(tensor + ": location " + shown + " resolves outside the model directory",
                    "a file inside " + realDirectory, real);
        }
        if (!Files.isRegularFile(real)) {
            throw bad(tensor + ": location " + shown + " is not a regular file", "a regular file", "a directory or device");
        }
        if (offset < 0 || length < 0 || offset + length > size) {
            throw bad(tensor + " does not fit its file " + shown, "bytes within the file, which has only " + size + " bytes",
                    "bytes " + offset + ".." + (offset + length));
        }
        return file;
    }

    private BadModelException bad(String what, Object expected, Object found) {
        return new BadModelException(FileProblem.message(modelFile, what, expected, found));
    }
}
