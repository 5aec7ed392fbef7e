package dev.onnxsteer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where tests find the repository, its fixtures and the shared offline models. */
public final class TestPaths {
    private TestPaths() {}

    /** The repository root (set by surefire from the reactor root; falls back to the working directory's parent). */
    public static Path root() {
        String root = System.getProperty("onnxsteer.root");
        Path path = root != null ? Path.of(root) : Path.of("").toAbsolutePath().getParent();
        return path.toAbsolutePath().normalize();
    }

    public static Path testdata() {
        return root().resolve("testdata");
    }

    /** A file or directory under ../shared/models; skips the test with a clear message when ../shared is absent. */
    public static Path sharedModel(String relative) {
        Path shared = root().resolve("../shared/models").normalize();
        assumeTrue(Files.isDirectory(shared), "skipped: ../shared/models is absent (expected at " + shared + ")");
        Path path = shared.resolve(relative);
        assumeTrue(Files.exists(path), "skipped: shared model " + path + " is absent");
        return path;
    }
}
