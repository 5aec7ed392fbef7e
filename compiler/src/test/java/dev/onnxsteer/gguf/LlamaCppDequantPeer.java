package dev.onnxsteer.gguf;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.onnxsteer.TestPaths;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * llama.cpp's own dequantisation of a GGUF file, through {@code peers/gguf-dequant/dequant.py} (which
 * calls libggml-base from node-llama-cpp's prebuilt binaries and parses the file with ggml's gguf code,
 * sharing nothing with this project). Tests using it skip when /usr/bin/python3 or the peer's
 * {@code npm ci} is missing.
 */
final class LlamaCppDequantPeer {
    static final Path PYTHON = Path.of("/usr/bin/python3");

    /** One tensor as llama.cpp decodes it. */
    record Tensor(String name, String type, float[] values) {}

    private LlamaCppDequantPeer() {}

    static Path script() {
        Path dir = TestPaths.root().resolve("peers/gguf-dequant");
        assumeTrue(Files.isExecutable(PYTHON), "skipped: " + PYTHON + " is absent");
        assumeTrue(Files.exists(dir.resolve("node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so")),
                "skipped: run npm ci in " + dir + " to install llama.cpp's libggml-base");
        return dir.resolve("dequant.py");
    }

    /** Every tensor of {@code gguf}, by name, in file order. */
    static Map<String, Tensor> dequantise(Path gguf, Path workDir) throws IOException, InterruptedException {
        Path out = Files.createTempDirectory(workDir, "llamacpp");
        Process p = new ProcessBuilder(PYTHON.toString(), script().toString(), gguf.toString(), out.toString())
                .redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("dequant.py failed on " + gguf + ": " + log);
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (String line : Files.readAllLines(out.resolve("tensors.tsv"))) {
            String[] f = line.split("\t");
            ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(out.resolve(f[0] + ".f32"))).order(ByteOrder.LITTLE_ENDIAN);
            float[] values = new float[Integer.parseInt(f[3])];
            bytes.asFloatBuffer().get(values);
            tensors.put(f[1], new Tensor(f[1], f[2], values));
        }
        return tensors;
    }
}
