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
import java.util.Set;
import java.util.stream.Stream;

/**
 * Writing outputs so that a failure never leaves a half-written file: write beside the target,
 * then rename into place. Temp files get ordinary permissions (rw-r--r--, directories rwxr-xr-x)
 * rather than the owner-only ones Java gives temp files, because they become the user's outputs.
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

    private static void setPermissions(Path path, Set<PosixFilePermission> permissions) throws IOException {
        try {
            Files.setPosixFilePermissions(path, permissions);
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: the platform's defaults apply
        }
    }
}
