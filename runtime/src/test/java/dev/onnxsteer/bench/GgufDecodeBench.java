package dev.onnxsteer.bench;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.importer.ArchitectureFixtures;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.session.SessionConfig;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;
import java.util.function.Function;

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
 * <p>A third part ({@code llama76m}, not in the default) measures the issue 16 target on the generated 76M Llama GGUF
 * ({@link BenchModels#llama76mGguf}): its F32 file in both layouts and its Q8_0 and Q4_K files, each next to llama.cpp
 * on the same file, interleaved round by round ({@link #interleaved}). A fourth ({@code llama480m}, not in the default
 * either) does the same for the quantized files of the 480M Llama ({@link BenchModels#llama480mGguf}), where the
 * matrix kernels rather than the cost around each operator set the speed.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.GgufDecodeBench -pl runtime -am verify}
 * ({@code -Dbench.parts=quants,layouts}, the default, or any of quants, layouts, llama76m, llama480m; {@code -Dbench.threads=N},
 * default 1, both sides; the bench JVM takes both through {@code JAVA_TOOL_OPTIONS})
 */
public final class GgufDecodeBench {
    private static final int TOKENS = 64;
    private static final int REPS = 5;

    private GgufDecodeBench() {}

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("bench.threads", 1);
        SessionConfig sessions = SessionConfig.cpu().withThreads(threads, 1);
        String parts = System.getProperty("bench.parts", "quants,layouts");
        if (parts.contains("llama76m")) {
            llama76m(sessions, threads);
        }
        if (parts.contains("llama480m")) {
            llama480m(sessions, threads);
        }
        if (parts.contains("quants")) {
            quants(sessions, threads);
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
            rows.add(compareLayouts(base, imported(gguf, "-f32-onnx", f32.withFormat(ImportFormat.ONNX)), imported(gguf, "-f32-genai",
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

    /**
     * The issue 16 target: the generated 76M Llama's F32 GGUF imported with {@code --weights f32} in both layouts, and
     * its Q8_0 and Q4_K files imported with {@code --weights keep} (MatMulNBits), each next to llama.cpp on the same file.
     */
    private static void llama76m(SessionConfig sessions, int threads) {
        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        GgufImporter.Options f32 = GgufImporter.Options.DEFAULT.withWeights(WeightFormat.F32);
        Path f32File = BenchModels.llama76mGguf(GgmlType.F32);
        Path onnx = imported(f32File, "-f32-onnx", f32.withFormat(ImportFormat.ONNX));
        Path genai = imported(f32File, "-f32-genai", f32.withFormat(ImportFormat.GENAI));
        List<String> rows = new ArrayList<>();
        double[] f = interleaved(List.of(
                () -> decodeRound("76m F32 onnx", onnx, sessions),
                () -> decodeRound("76m F32 genai", genai, sessions),
                () -> llamaCppRound(f32File, threads)));
        rows.add(row("F32 (`--weights f32`)", f[0], f[1], Double.NaN, f[2]));
        rows.addAll(keepRows("76m", List.of(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K), BenchModels::llama76mGguf, true, sessions, threads));
        printTable("llama-76m", BenchModels.LLAMA_76M, threads, loadBefore, "| file | onnx-steer, onnx layout (vs llama.cpp) "
                + "| onnx-steer, genai layout (vs llama.cpp) | genai layout, `--int8-activations` (vs llama.cpp) | llama.cpp |", rows);
    }

    /**
     * The quantized files of the 480M Llama ({@link BenchModels#llama480mGguf}), each imported with {@code --weights
     * keep} in the genai layout with float and with int8 activations, next to llama.cpp on the same file.
     */
    private static void llama480m(SessionConfig sessions, int threads) {
        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        List<String> rows = keepRows("480m", BenchModels.LLAMA_480M_TYPES, BenchModels::llama480mGguf, false, sessions, threads);
        printTable("llama-480m", BenchModels.LLAMA_480M, threads, loadBefore, "| file | onnx-steer, genai layout (vs llama.cpp) "
                + "| genai layout, `--int8-activations` (vs llama.cpp) | llama.cpp |", rows);
    }

    /**
     * A row per quantized file of {@code types}: imported with {@code --weights keep} in the onnx layout (when {@code
     * onnxLayout}) and in the genai layout with float and with int8 activations, each next to llama.cpp on the file.
     */
    private static List<String> keepRows(String label, List<GgmlType> types, Function<GgmlType, Path> files, boolean onnxLayout,
            SessionConfig sessions, int threads) {
        List<String> rows = new ArrayList<>();
        for (GgmlType type : types) {
            Path file = files.apply(type);
            String name = label + " " + type;
            List<DoubleSupplier> sides = new ArrayList<>();
            if (onnxLayout) {
                Path keep = imported(file, "-keep-onnx", GgufImporter.Options.DEFAULT.withFormat(ImportFormat.ONNX));
                sides.add(() -> decodeRound(name + " onnx", keep, sessions));
            }
            Path keepGenai = imported(file, "-keep-genai", GgufImporter.Options.DEFAULT.withFormat(ImportFormat.GENAI));
            Path int8Genai = imported(file, "-keep-genai-int8-activations",
                    GgufImporter.Options.DEFAULT.withFormat(ImportFormat.GENAI).withInt8Activations());
            sides.add(() -> decodeRound(name + " genai", keepGenai, sessions));
            sides.add(() -> decodeRound(name + " genai int8", int8Genai, sessions));
            sides.add(() -> llamaCppRound(file, threads));
            rows.add(row(type + " (`--weights keep`)", interleaved(sides)));
        }
        return rows;
    }

    /** A table row: each of our figures with its ratio to llama.cpp's, the last one ({@code NaN}: not measured). */
    private static String row(String file, double... figures) {
        double llamaCpp = figures[figures.length - 1];
        StringBuilder row = new StringBuilder("| ").append(file).append(" |");
        for (int i = 0; i < figures.length - 1; i++) {
            row.append(Double.isNaN(figures[i]) ? " - |" : String.format(Locale.ROOT, " %.1f (%.2fx) |", figures[i], figures[i] / llamaCpp));
        }
        return row.append(String.format(Locale.ROOT, " %.1f |", llamaCpp)).toString();
    }

    /** A generated model's table: what was measured and how, the header, its separator and the rows. */
    private static void printTable(String model, ArchitectureFixtures.Sizes sizes, int threads, double loadBefore, String header,
            List<String> rows) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%s (generated, %s, vocab %d): decode tok/s, %d greedy tokens after BOS, %d thread(s), "
                + "median over %d interleaved rounds of each round's median of 3; load average %.1f before, %.1f after:%n",
                model, sizes, BenchModels.GGUF_VOCAB, TOKENS, threads, ROUNDS, loadBefore,
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        System.out.println(header);
        System.out.println("|---".repeat(header.split("\\|", -1).length - 2) + "|");
        rows.forEach(System.out::println);
    }

    private static final int ROUNDS = 5;

    /**
     * The median over {@link #ROUNDS} rounds of each side's figure; each round runs every side once, starting one
     * side later than the round before, so a change in the machine's load reaches every side alike.
     */
    private static double[] interleaved(List<DoubleSupplier> sides) {
        int n = sides.size();
        double[][] figures = new double[n][ROUNDS];
        for (int round = 0; round < ROUNDS; round++) {
            for (int k = 0; k < n; k++) {
                int side = (round + k) % n;
                figures[side][round] = sides.get(side).getAsDouble();
            }
        }
        double[] medians = new double[n];
        for (int side = 0; side < n; side++) {
            medians[side] = GenerationBench.median(figures[side]);
        }
        return medians;
    }

    private static double decodeRound(String label, Path dir, SessionConfig sessions) {
        return GenerationBench.measure(label, dir, "", TOKENS, 1, 3, sessions).decodeTokensPerSecond();
    }

    private static double llamaCppRound(Path gguf, int threads) {
        try {
            // 4 reps: decode_speed.py has no warm-up, and the median of 4 leans on the three after the first
            double rate = llamaCppDecode(gguf, threads, 4);
            System.err.printf(Locale.ROOT, "%s llama.cpp: %.1f tok/s%n", gguf.getFileName(), rate);
            return rate;
        } catch (Exception e) {
            throw new IllegalStateException("llama.cpp on " + gguf + ": " + e.getMessage(), e);
        }
    }

    private static void quants(SessionConfig sessions, int threads) throws Exception {
        List<String> rows = new ArrayList<>();
        for (String name : List.of("F32", "Q8_0", "Q4_0", "Q4_K_M")) {
            Path gguf = TestPaths.root().resolve("../shared/models/tiny-llama-quants/tiny-llama-" + name + ".gguf").normalize();
            double floatActivations = decode(name, gguf, "-keep-auto", GgufImporter.Options.DEFAULT, sessions);
            double int8Activations = decode(name + " int8", gguf, "-keep-auto-int8-activations", GgufImporter.Options.DEFAULT.withInt8Activations(),
                    sessions);
            double llamaCpp = llamaCppDecode(gguf, threads, REPS);
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

    private static double llamaCppDecode(Path gguf, int threads, int reps) throws Exception {
        Path script = TestPaths.root().resolve("peers/gguf-dequant/decode_speed.py");
        Process p = new ProcessBuilder("/usr/bin/python3", script.toString(), gguf.toString(), Integer.toString(TOKENS),
                Integer.toString(threads), Integer.toString(reps)).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("decode_speed.py failed on " + gguf + ": " + out);
        }
        return Double.parseDouble(out.substring(out.lastIndexOf(' ') + 1));
    }
}
