package dev.onnxsteer.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufTensorInfo;
import dev.onnxsteer.importer.LlamaConfig;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;

/**
 * Fuzz tests of the compiler's readers: every byte string given to them is either read or refused as a bad
 * input file with a one-line printable message ({@link FuzzChecks}). Under {@code mvn verify} each runs once
 * per file of its seed corpus ({@code src/test/resources/dev/onnxsteer/fuzz/ReaderFuzzTestInputs/<method>/},
 * made by {@link FuzzSeeds}, findings added as they turn up); {@code mvn -Pfuzz} mutates for a set time.
 */
class ReaderFuzzTest {
    private static final Path WORK = FuzzChecks.workDirectory("readers");
    /** Tensors above this many bytes are not dequantised: a fuzzer's 2^40-element claim must fail on size, not heap. */
    private static final long MAX_READ_BYTES = 1 << 20;

    @FuzzTest
    void onnxModel(byte[] bytes) {
        Path file = FuzzChecks.write(WORK, "model.onnx", bytes);
        FuzzChecks.acceptsOrRefuses(file, () -> ModelReader.read(file));
    }

    @FuzzTest
    void gguf(byte[] bytes) {
        Path file = FuzzChecks.write(WORK, "model.gguf", bytes);
        FuzzChecks.acceptsOrRefuses(file, () -> {
            try (GgufFile gguf = GgufFile.open(file)) {
                for (GgufTensorInfo t : gguf.tensors()) {
                    if (t.type().isDequantisable() && t.byteSize() <= MAX_READ_BYTES) {
                        gguf.readFloats(t);
                    }
                }
                if (gguf.metadata().findString("general.architecture").filter("llama"::equals).isPresent()) {
                    LlamaConfig.from(gguf);
                }
            }
        });
    }

    @FuzzTest
    void controlVector(byte[] bytes) {
        Path file = FuzzChecks.write(WORK, "vector.gguf", bytes);
        FuzzChecks.acceptsOrRefuses(file, () -> VectorFiles.read(file));
    }

    @FuzzTest
    void safetensors(byte[] bytes) {
        Path file = FuzzChecks.write(WORK, "vector.safetensors", bytes);
        FuzzChecks.acceptsOrRefuses(file, () -> VectorFiles.read(file));
    }
}
