package dev.onnxsteer.bench;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.WeightFormat;
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
 * <p>A second table compares the two import layouts ({@code import --format onnx|genai}) on the same files.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.GgufDecodeBench -pl runtime -am verify}
 * ({@code -Dbench.parts=quants,layouts}, the default, or either alone)
 */
public final class GgufDecodeBench {
    private static final int TOKENS = 64;
    private static final int REPS = 5;

    private GgufDecodeBench() {}

    public static void main(String[] args) throws Exception {
        SessionConfig sessions = SessionConfig.cpu().withThreads(1, 1);
        String parts = System.getProperty("bench.parts", "quants,layouts");
        if (parts.contains("quants")) {
            quants(sessions);
        }
        if (parts.contains("layouts")) {
            layouts(sessions);
        }
    }

    /**
     * Decode tok/s of the two import layouts in one run ({@code import --format onnx} and {@code --format genai},
     * f32 weights) on stories260K and the tiny llama, and of the same two layouts of the generated 100M llama
     * ({@link BenchModels#llama()}, {@link BenchModels#llamaGenai()}: the same weights). The layouts alternate round by
     * round, so a change in the machine's load reaches both.
     */
    private static void layouts(SessionConfig sessions) {
        List<String> rows = new ArrayList<>();
        Path shared = TestPaths.root().resolve("../shared/models").normalize();
        for (Path gguf : List.of(shared.resolve("stories260K/stories260K.gguf"), shared.resolve("tiny-llama-quants/tiny-llama-F32.gguf"))) {
            String file = gguf.getFileName().toString();
            String base = file.substring(0, file.length() - ".gguf".length());
            GgufImporter.Options f32 = GgufImporter.Options.DEFAULT.withWeights(WeightFormat.F32);
            rows.add(compareLayouts(base, imported(gguf, "-f32-onnx", f32), imported(gguf, "-f32-genai",
                    f32.withFormat(ImportFormat.GENAI)), sessions));
        }
        rows.add(compareLayouts("llama-100m (generated)", BenchModels.llama(), BenchModels.llamaGenai(), sessions));
        System.out.println();
        System.out.println("decode tok/s, " + TOKENS + " greedy tokens after BOS, one thread, median over 11 alternating rounds of each round's median of 3:");
        System.out.println("| model | onnx layout | genai layout | genai / onnx |");
        System.out.println("|---|---|---|---|");
        rows.forEach(System.out::println);
    }

    private static String compareLayouts(String label, Path onnx, Path genai, SessionConfig sessions) {
        int tokens = label.startsWith("llama-100m") ? 32 : TOKENS;
        int rounds = 2 * REPS + 1;
        double[] standard = new double[rounds];
        double[] fused = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            // which layout goes first alternates, so a drift in the machine's load reaches both alike
            boolean onnxFirst = i % 2 == 0;
            if (onnxFirst) {
                standard[i] = GenerationBench.measure(label + " onnx", onnx, "", tokens, 1, 3, sessions).decodeTokensPerSecond();
            }
            fused[i] = GenerationBench.measure(label + " genai", genai, "", tokens, 1, 3, sessions).decodeTokensPerSecond();
            if (!onnxFirst) {
                standard[i] = GenerationBench.measure(label + " onnx", onnx, "", tokens, 1, 3, sessions).decodeTokensPerSecond();
            }
        }
        double s = GenerationBench.median(standard);
        double f = GenerationBench.median(fused);
        return String.format(Locale.ROOT, "| %s | %.0f | %.0f | %.2fx |", label, s, f, f / s);
    }

    private static void quants(SessionConfig sessions) throws Exception {
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
