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
            throw new BadModelException(modelFile + ": cannot resolve the model directory: " + e.getMessage());
        }
    }

    /** The file a tensor's {@code location} names, after the safety checks. */
    Path resolve(String tensorName, String location, long offset, long length) {
        String problem = null;
        if (location == null || location.isEmpty()) {
            problem = "has no location";
        } else if (location.startsWith("/") || location.startsWith("\\") || location.matches("^[A-Za-z]:.*")
                || Path.of(location).isAbsolute()) {
            problem = "location '" + location + "' is absolute; expected a path relative to the model directory";
        } else if (location.replace('\\', '/').matches("(^|.*/)\\.\\.(/.*|$)")) {
            problem = "location '" + location + "' contains '..'; expected a path inside the model directory";
        }
        if (problem != null) {
            throw new BadModelException(modelFile + ": external data of tensor '" + tensorName + "' " + problem);
        }
        Path file = realDirectory.resolve(location);
        if (!Files.exists(file)) {
            throw new BadModelException(modelFile + ": external data file '" + location + "' of tensor '" + tensorName
                    + "' is missing (expected at " + file + ")");
        }
        Path real;
        long size;
        try {
            real = file.toRealPath();
            size = Files.size(real);
        } catch (IOException e) {
            throw new BadModelException(modelFile + ": cannot read external data file '" + location + "': " + e.getMessage());
        }
        if (!real.startsWith(realDirectory)) {
            throw new BadModelException(modelFile + ": external data location '" + location + "' of tensor '" + tensorName
                    + "' resolves to " + real + ", outside the model directory " + realDirectory);
        }
        if (!Files.isRegularFile(real)) {
            throw new BadModelException(modelFile + ": external data location '" + location + "' is not a regular file");
        }
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new BadModelException(modelFile + ": external data of tensor '" + tensorName + "' spans bytes " + offset
                    + ".." + (offset + length) + " but '" + location + "' has only " + size + " bytes");
        }
        return file;
    }
}
