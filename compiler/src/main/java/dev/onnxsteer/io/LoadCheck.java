package dev.onnxsteer.io;

import java.nio.file.Path;
import java.util.ServiceLoader;

/**
 * A runtime's check that it can load a model file the compiler wrote, run on the staged file before it
 * is renamed into place. The compiler has no runtime dependency: the runtime module provides one
 * (ONNX Runtime, CPU, optimisations off) as a {@link ServiceLoader} service, found by {@link #installed}.
 */
@FunctionalInterface
public interface LoadCheck {
    /** No runtime available: only the compiler's own checks apply. */
    LoadCheck NONE = (modelFile, sourceFile) -> {};

    /**
     * Throws {@link dev.onnxsteer.InvalidModelException} naming the node and reason when {@code modelFile}
     * cannot be loaded where {@code sourceFile} (the model it was compiled from; null if none) can.
     */
    void check(Path modelFile, Path sourceFile);

    /** The check a runtime on the class path provides, else {@link #NONE}. */
    static LoadCheck installed() {
        return ServiceLoader.load(LoadCheck.class).findFirst().orElse(NONE);
    }
}
