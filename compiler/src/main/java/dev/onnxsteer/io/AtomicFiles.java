package dev.onnxsteer.io;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Writing outputs so that a failure never leaves a half-written file: write beside the target,
 * then rename into place. Temp files get ordinary permissions (rw-r--r--, directories rwxr-xr-x)
 * rather than the owner-only ones Java gives temp files, because they become the user's outputs.
 *
 * <p>Every command that writes checks its {@link OutputTarget} here first, so one set of rules says
 * what may be replaced: an existing file or non-empty directory only when the target allows it,
 * and never a directory that is, holds or lies inside one of the command's inputs.
 */
public final class AtomicFiles {
    private static final Set<PosixFilePermission> FILE = PosixFilePermissions.fromString("rw-r--r--");
    private static final Set<PosixFilePermission> DIRECTORY = PosixFilePermissions.fromString("rwxr-xr-x");

    /** Writes the bytes of one file. */
    @FunctionalInterface
    public interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    private AtomicFiles() {}

    /** Writes {@code target} through a temp file in its directory (created if missing) and a rename. */
    public static void write(Path target, Content content) {
        Path absolute = target.toAbsolutePath();
        Path temp = null;
        try {
            temp = tempFileBeside(absolute);
            try (OutputStream out = Files.newOutputStream(temp)) {
                content.writeTo(out);
            }
            moveIntoPlace(temp, absolute);
            temp = null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            if (temp != null) {
                deleteTree(temp);
            }
        }
    }

    public static void write(Path target, byte[] bytes) {
        write(target, out -> out.write(bytes));
    }

    /** A new empty file beside {@code target} with ordinary permissions, to fill and then {@link #moveIntoPlace}. */
    public static Path tempFileBeside(Path target) throws IOException {
        Path absolute = target.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        Path temp = Files.createTempFile(absolute.getParent(), "." + absolute.getFileName(), ".tmp");
        setPermissions(temp, FILE);
        return temp;
    }

    /** A new empty directory beside {@code target}, to fill and then {@link #moveIntoPlace} as {@code target}. */
    public static Path stagingDirectory(Path target) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path staging = Files.createTempDirectory(absolute.getParent(), "." + absolute.getFileName() + ".staging-");
        setPermissions(staging, DIRECTORY);
        return staging;
    }

    /** Renames {@code source} onto {@code target}, atomically where the file system allows. */
    public static void moveIntoPlace(Path source, Path target) throws IOException {
        try {
            Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(source, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Deletes a file or directory tree of our own making; best effort, as it runs while another error is reported. */
    public static void deleteTree(Path root) {
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // nothing more to do: the caller is already reporting the failure that led here
        }
    }

    /**
     * Refuses an output directory that may not be written: a file; a non-empty directory unless the
     * target allows replacing it; and, whatever it allows, a non-empty directory that is, holds or lies
     * inside an input. A missing or empty directory is always fine. Call before doing any work; {@link
     * #replaceDirectory} calls it again just before the rename.
     */
    public static void checkDirectoryTarget(OutputTarget target) {
        Path dir = target.absolute();
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("output " + target.path() + " exists and is a file; expected a new or empty directory");
        }
        List<String> entries = firstEntries(dir);
        if (entries.isEmpty()) {
            return;
        }
        for (Path input : target.inputs()) {
            String clash = clash(dir, input);
            if (clash != null) {
                throw new IllegalArgumentException("output directory " + target.path() + " " + clash + " " + input
                        + "; choose another so the input is never overwritten");
            }
        }
        if (!target.replace()) {
            throw new IllegalArgumentException("output directory " + target.path() + " exists and is not empty ("
                    + String.join(", ", entries) + "); pass --force to replace it, or choose another");
        }
    }

    /**
     * Refuses an output file that may not be written: a directory, one under a missing directory, an
     * input (whatever the target allows), and an existing file unless the target allows replacing it.
     */
    public static void checkFileTarget(OutputTarget target) {
        Path file = target.absolute();
        if (Files.isDirectory(file)) {
            throw new IllegalArgumentException("output " + target.path() + " is a directory; expected a file name");
        }
        Path parent = file.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("cannot write " + target.path() + ": directory " + parent + " does not exist");
        }
        if (!Files.exists(file)) {
            return;
        }
        for (Path input : target.inputs()) {
            if (real(file).equals(real(input))) {
                throw new IllegalArgumentException("output " + target.path() + " is the input " + input
                        + "; choose another name so the input is never overwritten");
            }
        }
        if (!target.replace()) {
            throw new IllegalArgumentException("output " + target.path() + " exists; pass --force to replace it, or choose another name");
        }
    }

    /**
     * Puts a filled staging directory (from {@link #stagingDirectory}) in place of the target: checks the
     * target again, moves an existing one aside, renames the new one in, and deletes the old one only
     * after that succeeded (on failure the old one is moved back).
     */
    public static void replaceDirectory(Path staging, OutputTarget target) throws IOException {
        checkDirectoryTarget(target);
        Path dir = target.absolute();
        if (!Files.exists(dir)) {
            Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        Path old = Files.createTempDirectory(dir.getParent(), "." + dir.getFileName() + ".old-");
        Files.delete(old);
        Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
        try {
            Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            Files.move(old, dir, StandardCopyOption.ATOMIC_MOVE);
            throw e;
        }
        deleteTree(old);
    }

    /** How {@code dir} (an existing directory) overlaps {@code input}, in words; null when it does not. */
    private static String clash(Path dir, Path input) {
        Path d = real(dir);
        Path i = real(input);
        if (d.equals(i)) {
            return Files.isDirectory(i) ? "is the input model's directory" : "is the input";
        }
        if (i.startsWith(d)) {
            return "contains the input";
        }
        if (d.startsWith(i) && Files.isDirectory(i)) {
            return "is inside the input directory";
        }
        return null;
    }

    /** Symbolic links resolved where the path exists, so two names for one file compare equal. */
    private static Path real(Path path) {
        try {
            return path.toRealPath();
        } catch (IOException missing) {
            return path.toAbsolutePath().normalize();
        }
    }

    /** Up to three entry names of {@code dir}, for the refusal message; empty when it is missing or empty. */
    private static List<String> firstEntries(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(dir)) {
            List<String> names = entries.map(p -> p.getFileName().toString()).sorted().limit(4).toList();
            return names.size() > 3 ? List.of(names.get(0), names.get(1), names.get(2), "...") : names;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void setPermissions(Path path, Set<PosixFilePermission> permissions) throws IOException {
        try {
            Files.setPosixFilePermissions(path, permissions);
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: the platform's defaults apply
        }
    }
}
