package dev.onnxsteer.bench;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.session.SessionConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Decode speed of imported GGUF files next to llama.cpp on the same files (not a test, issue 19): the
 * tiny-llama-quants F32, Q8_0, Q4_0 and Q4_K_M files imported as {@code onnx-steer import} imports them
 * ({@code --weights keep}: MatMulNBits for the quantized ones, f32 MatMul for F32), greedy decoding of 64
 * tokens after BOS, each with float32 activations (the default) and with int8 activations
 * ({@link GgufImporter.Options#int8Activations}) ({@link GenerationBench#measure}, median of 5 after 2 warm-ups); llama.cpp through
 * {@code peers/gguf-dequant/decode_speed.py} (node-llama-cpp's prebuilt libllama through its C API, so none
 * of node-llama-cpp's per-token JavaScript), same steps, median of 5. Both sides use one thread: on this
 * shared 2-core machine, llama.cpp's spinning worker threads slow it down 100x under load.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.GgufDecodeBench -pl runtime -am verify}
 */
public final class GgufDecodeBench {
    private static final int TOKENS = 64;
    private static final int REPS = 5;

    private GgufDecodeBench() {}

    public static void main(String[] args) throws Exception {
        SessionConfig sessions = SessionConfig.cpu().withThreads(1, 1);
        List<String> rows = new ArrayList<>();
        for (String name : List.of("F32", "Q8_0", "Q4_0", "Q4_K_M")) {
            Path gguf = TestPaths.root().resolve("../shared/models/tiny-llama-quants/tiny-llama-" + name + ".gguf").normalize();
            double floatActivations = decode(name, gguf, "-keep", GgufImporter.Options.DEFAULT, sessions);
            double int8Activations = decode(name + " int8", gguf, "-keep-int8-activations", GgufImporter.Options.DEFAULT.withInt8Activations(),
                    sessions);
            double llamaCpp = llamaCppDecode(gguf);
            rows.add(String.format(Locale.ROOT, "| %s | %.0f (%.2fx) | %.0f (%.2fx) | %.0f |", name, floatActivations,
                    floatActivations / llamaCpp, int8Activations, int8Activations / llamaCpp, llamaCpp));
        }
        System.out.println("| file | onnx-steer, float activations (default) | onnx-steer, int8 activations | llama.cpp |");
        System.out.println("|---|---|---|---|");
        rows.forEach(System.out::println);
    }

    /** Decode tok/s of {@code gguf} imported with {@code options} ({@link #imported}). */
    private static double decode(String label, Path gguf, String suffix, GgufImporter.Options options, SessionConfig sessions) {
        // BOS alone: the generated tokens are all decode steps
        return GenerationBench.measure(label, imported(gguf, suffix, options), "", TOKENS, 2, REPS, sessions)
                .decodeTokensPerSecond();
    }

    /** {@code gguf} imported with {@code options}, once, into the bench models as {@code <file name><suffix>}. */
    static Path imported(Path gguf, String suffix, GgufImporter.Options options) {
        String file = gguf.getFileName().toString();
        Path dir = BenchModels.root().resolve(file.substring(0, file.length() - ".gguf".length()) + suffix);
        if (!Files.isRegularFile(dir.resolve("model.onnx"))) {
            GgufImporter.importModel(gguf, OutputTarget.refuseExisting(dir), options);
        }
        return dir;
    }

    private static double llamaCppDecode(Path gguf) throws Exception {
        Path script = TestPaths.root().resolve("peers/gguf-dequant/decode_speed.py");
        Process p = new ProcessBuilder("/usr/bin/python3", script.toString(), gguf.toString(), Integer.toString(TOKENS), "1",
                Integer.toString(REPS)).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("decode_speed.py failed on " + gguf + ": " + out);
        }
        return Double.parseDouble(out.substring(out.lastIndexOf(' ') + 1));
    }
}
