package dev.onnxsteer.io;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * Where a command writes, whether it may replace what is already there, and the inputs it reads.
 * The inputs are what {@link AtomicFiles} refuses to remove even when replacing is allowed: a
 * directory that holds one of them, or lies inside one of them, is never deleted.
 *
 * @param path the output file or directory
 * @param replace whether an existing output may be replaced (the CLI's {@code --force})
 * @param inputs files and directories the command reads
 */
public record OutputTarget(Path path, boolean replace, List<Path> inputs) {
    public OutputTarget {
        Objects.requireNonNull(path, "path");
        inputs = inputs.stream().filter(Objects::nonNull).toList();
    }

    /** An output that must not exist yet (or be an empty directory). */
    public static OutputTarget refuseExisting(Path path) {
        return new OutputTarget(path, false, List.of());
    }

    /** The same target with more inputs to protect; null entries are ignored. */
    public OutputTarget withInputs(Collection<Path> more) {
        List<Path> all = new ArrayList<>(inputs);
        all.addAll(more.stream().filter(Objects::nonNull).toList());
        return new OutputTarget(path, replace, all);
    }

    public Path absolute() {
        return path.toAbsolutePath().normalize();
    }
}
