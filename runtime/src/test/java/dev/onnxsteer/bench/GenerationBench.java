package dev.onnxsteer.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.peers.NodePeer;
import dev.onnxsteer.session.Device;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.PhysicalCores;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Generation benchmark (not a test, issues 3 and 16): for each model, greedy decode tokens per second with the KV
 * cache; each decode step split into time inside {@code OrtSession.run} and Java time around it (building inputs,
 * reading logits, sampling, streaming text); the Java heap bytes the generating thread allocates per decode step
 * early and late in the generation (whether per-step garbage grows with the sequence); and transformers.js
 * (onnxruntime-node, {@code peers/transformersjs/decode_speed.mjs}) decoding the same directory from the same
 * prompt ids, in the same run. Models: stories260K imported from GGUF, the tiny-llama F32 GGUF (3.4M parameters, random weights) imported with
 * {@code --weights f32}, and the generated 125M Llama ({@link BenchModels#llama()}). Each model: warm-up runs, then
 * {@code reps} generations of a fixed prompt and a fixed number of tokens (EOS ignored); figures are medians.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.GenerationBench
 * -pl runtime -am verify}. Java properties: {@code -Dbench.device=cpu|cuda|auto} (default cpu),
 * {@code -Dbench.threads=N} (intra-op threads, both sides; default 0 = one per physical core),
 * {@code -Dbench.spin=true|false} (intra-op spinning, both sides; default true, ONNX Runtime's default),
 * {@code -Dbench.arena=true|false} (ONNX Runtime's CPU memory arena, both sides; default true, ONNX Runtime's default),
 * {@code -Dbench.only=stories260K,tiny-llama-3m-f32,llama-76m-f32,llama-125m} (the models to run; default all but
 * llama-76m-f32, the generated 76M Llama GGUF of {@link BenchModels#llama76mGguf} imported with {@code --weights f32}),
 * {@code -Dbench.format=genai|onnx} (the import layout of the two GGUF models; default genai, what {@code import}
 * writes for llama), {@code -Dbench.inplace=true|false} (the in-place KV cache where the graph allows it; default true).
 */
public final class GenerationBench {
    private static final String STORY = "Once upon a time, there was a little girl named Lily. She loved to play "
            + "outside in the park with her friends. One day, she saw a big red ball under a tree.";
    /** Decode steps per allocation window: the first ones after the prefill and the last ones. */
    private static final int WINDOW = 16;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** The flavour fixtures {@code -Dbench.set=flavours} measures, float32 first (the ratios' base), with what each is. */
    static final List<String[]> FLAVOURS = List.of(
            new String[] {Fixtures.LLAMA_TINY, "fp32, standard ops"},
            new String[] {Fixtures.LLAMA_TINY_FP16, "fp16"},
            new String[] {Fixtures.LLAMA_GENAI, "onnxruntime-genai layout, fp32"},
            new String[] {Fixtures.LLAMA_GENAI_INT4, "genai int4 (MatMulNBits)"},
            new String[] {Fixtures.LLAMA_GENAI_Q4F16, "genai q4f16"},
            new String[] {Fixtures.LLAMA_INT8, "int8 (MatMulInteger)"},
            new String[] {Fixtures.LLAMA_QDQ, "QDQ int8"},
            new String[] {Fixtures.LLAMA_BNB4, "bnb4 NF4 (MatMulBnb4)"});

    private static final ImportFormat LAYOUT = ImportFormat.valueOf(
            System.getProperty("bench.format", "genai").toUpperCase(Locale.ROOT));
    private static final boolean IN_PLACE_CACHE = Boolean.parseBoolean(System.getProperty("bench.inplace", "true"));

    private GenerationBench() {}

    /**
     * One model's figures (medians over the repetitions).
     *
     * @param runMsPerToken   time inside {@code OrtSession.run} per decode step
     * @param javaMsPerToken  the rest of a decode step
     * @param earlyPosition   sequence length in the middle of the first {@link #WINDOW} decode steps
     * @param earlyBytes      heap bytes allocated per decode step there
     * @param latePosition    sequence length in the middle of the last {@link #WINDOW} decode steps
     * @param lateBytes       heap bytes allocated per decode step there
     */
    record Figures(String model, int promptTokens, int generatedTokens, double prefillMs, double decodeTokensPerSecond,
            double runMsPerToken, double javaMsPerToken, int earlyPosition, double earlyBytes, int latePosition,
            double lateBytes) {
        double javaShare() {
            return javaMsPerToken / (javaMsPerToken + runMsPerToken);
        }
    }

    public static void main(String[] args) {
        Device device = Device.parse(System.getProperty("bench.device", "cpu"));
        boolean spinning = Boolean.parseBoolean(System.getProperty("bench.spin", "true"));
        boolean arena = Boolean.parseBoolean(System.getProperty("bench.arena", "true"));
        SessionConfig sessions = SessionConfig.cpu().withDevice(device).withThreads(Integer.getInteger("bench.threads", 0), 0)
                .withSpinning(spinning).withMemoryArena(arena).withDiagnostics(System.err::println);
        int threads = sessions.resolvedIntraOpThreads();
        Set<String> only = Set.of(System.getProperty("bench.only", "stories260K,tiny-llama-3m-f32,llama-125m").split(","));
        System.out.printf(Locale.ROOT, "machine: %d cores (%d physical), load %.1f, %s %s, java %s, device %s, "
                + "intra-op threads %d, spinning %s, memory arena %s, import layout %s, in-place KV cache %s%n", Runtime.getRuntime().availableProcessors(), PhysicalCores.count(),
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(), System.getProperty("os.name"),
                System.getProperty("os.arch"), System.getProperty("java.version"), device, threads, spinning ? "on" : "off",
                arena ? "on" : "off", LAYOUT.label(), IN_PLACE_CACHE ? "on where the graph allows" : "off");
        if (System.getProperty("bench.set", "models").equals("flavours")) {
            flavours(sessions);
            return;
        }
        Path tinyLlama = TestPaths.root().resolve("../shared/models/tiny-llama-quants/tiny-llama-F32.gguf").normalize();
        List<Model> models = new ArrayList<>();
        if (only.contains("stories260K")) {
            models.add(new Model("stories260K", stories260K(), STORY, 256, 3, 9));
        }
        if (only.contains("tiny-llama-3m-f32")) {
            models.add(new Model("tiny-llama-3m-f32", GgufDecodeBench.imported(tinyLlama, "-f32-" + LAYOUT.label(),
                    GgufImporter.Options.DEFAULT.withWeights(WeightFormat.F32).withFormat(LAYOUT)), STORY, 128, 2, 5));
        }
        if (only.contains("llama-76m-f32")) {
            models.add(new Model("llama-76m-f32", GgufDecodeBench.imported(BenchModels.llama76mGguf(GgmlType.F32),
                    "-f32-" + LAYOUT.label(), GgufImporter.Options.DEFAULT.withWeights(WeightFormat.F32).withFormat(LAYOUT)),
                    STORY.substring(0, 64), 128, 1, 3));
        }
        if (only.contains("llama-125m")) {
            models.add(new Model("llama-125m", BenchModels.llama(), STORY.substring(0, 64), 128, 1, 3));
        }
        List<String> rows = new ArrayList<>();
        for (Model model : models) {
            Figures f = measure(model.name(), model.dir(), model.prompt(), model.tokens(), model.warmups(), model.reps(),
                    sessions);
            OptionalDouble peer = transformersJs(model, sessions);
            rows.add(String.format(Locale.ROOT, "| %s | %d | %d | %.1f | %.1f | %s | %.3f | %.3f | %.2f%% | %.0f @ %d | %.0f @ %d |",
                    f.model(), f.promptTokens(), f.generatedTokens(), f.prefillMs(), f.decodeTokensPerSecond(),
                    peer.isPresent() ? String.format(Locale.ROOT, "%.1f (%.2fx)", peer.getAsDouble(),
                            f.decodeTokensPerSecond() / peer.getAsDouble()) : "not measured",
                    f.runMsPerToken(), f.javaMsPerToken(), 100 * f.javaShare(), f.earlyBytes(), f.earlyPosition(),
                    f.lateBytes(), f.latePosition()));
        }
        System.out.println();
        System.out.println("| model | prompt tokens | generated | prefill ms | decode tok/s | transformers.js tok/s (ours/theirs) "
                + "| in run ms/token | Java ms/token | Java share | bytes/step @ length (early) | bytes/step @ length (late) |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        rows.forEach(System.out::println);
        if (!Files.isDirectory(transformersJsDir().resolve("node_modules"))) {
            System.out.println("transformers.js not measured: " + transformersJsDir().resolve("node_modules")
                    + " is missing (cd peers/transformersjs && npm ci)");
        }
    }

    private record Model(String name, Path dir, String prompt, int tokens, int warmups, int reps) {}

    static void flavours(SessionConfig sessions) {
        List<Figures> results = new ArrayList<>();
        for (String[] flavour : FLAVOURS) {
            results.add(measure(flavour[0], Fixtures.dir(flavour[0]), "Once upon a time", 64, 3, 1, sessions));
        }
        double base = results.get(0).decodeTokensPerSecond();
        System.out.println();
        System.out.println("| fixture | flavour | decode tok/s | vs fp32 |");
        System.out.println("|---|---|---|---|");
        for (int i = 0; i < results.size(); i++) {
            Figures f = results.get(i);
            System.out.printf(Locale.ROOT, "| %s | %s | %.0f | %.2f |%n", f.model(), FLAVOURS.get(i)[1],
                    f.decodeTokensPerSecond(), f.decodeTokensPerSecond() / base);
        }
    }

    /** stories260K imported from ../shared once, under the bench model root, in the layout {@code import} writes by default. */
    static Path stories260K() {
        Path gguf = TestPaths.root().resolve("../shared/models/stories260K/stories260K.gguf").normalize();
        return GgufDecodeBench.imported(gguf, "-" + LAYOUT.label(), GgufImporter.Options.DEFAULT.withFormat(LAYOUT));
    }

    static Figures measure(String name, Path dir, String prompt, int tokens, int warmups, int reps,
            SessionConfig sessions) {
        ModelConfig config = ModelConfig.load(dir);
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), sessions);
                Tokenizer tokenizer = Tokenizer.load(dir, config)) {
            Generator generator = Generator.create(session, tokenizer, config).withInPlaceCache(IN_PLACE_CACHE);
            GenerationConfig generation = GenerationConfig.greedy(tokens).withEosTokenIds(List.of(-1L));
            long[] ids = tokenizer.encode(prompt, true);
            double[] prefill = new double[reps];
            double[] decode = new double[reps];
            double[] run = new double[reps];
            double[] java = new double[reps];
            double[] early = new double[reps];
            double[] late = new double[reps];
            for (int i = -warmups; i < reps; i++) {
                StepClock clock = new StepClock(tokens);
                Generation g = generator.generateIds(List.of(ids), generation, ExtraInputs.NONE, clock).get(0);
                if (clock.count != tokens) {
                    throw new IllegalStateException(name + " generated " + clock.count + " tokens, expected " + tokens);
                }
                if (i < 0) {
                    continue;
                }
                int steps = tokens - 1;
                double decodeMs = (clock.nanos[steps] - clock.nanos[0]) / 1e6;
                prefill[i] = g.prefillMs();
                decode[i] = steps / (decodeMs / 1e3);
                run[i] = g.decodeRunMs() / steps;
                java[i] = decodeMs / steps - run[i];
                early[i] = clock.medianBytes(1, 1 + WINDOW);
                late[i] = clock.medianBytes(tokens - WINDOW, tokens);
                System.err.printf(Locale.ROOT, "%s rep %d: prefill %.1f ms, decode %.1f tok/s, run %.3f ms/token, "
                        + "java %.3f ms/token, bytes/step %.0f early, %.0f late%n", name, i, prefill[i], decode[i], run[i],
                        java[i], early[i], late[i]);
            }
            return new Figures(name, ids.length, tokens, median(prefill), median(decode), median(run), median(java),
                    ids.length + 1 + WINDOW / 2, median(early), ids.length + tokens - WINDOW / 2, median(late));
        }
    }

    /**
     * The time and the generating thread's allocated heap bytes at each token; between two tokens lies exactly one
     * decode step. Records into arrays sized up front, so it allocates nothing itself.
     */
    private static final class StepClock implements TokenListener {
        final long[] nanos;
        final long[] bytes;
        int count;

        StepClock(int tokens) {
            nanos = new long[tokens];
            bytes = new long[tokens];
        }

        @Override
        public void onToken(int row, long tokenId, String textPiece) {
            if (count < nanos.length) {
                bytes[count] = THREADS.getCurrentThreadAllocatedBytes();
                nanos[count] = System.nanoTime();
                count++;
            }
        }

        /** Median bytes allocated by the steps ending at tokens {@code from} (inclusive) to {@code to}. */
        double medianBytes(int from, int to) {
            double[] steps = new double[to - from];
            for (int k = from; k < to; k++) {
                steps[k - from] = bytes[k] - bytes[k - 1];
            }
            return median(steps);
        }
    }

    private static Path transformersJsDir() {
        return TestPaths.root().resolve("peers/transformersjs");
    }

    /** transformers.js decode tok/s on {@code model}'s directory and prompt ids; empty when its packages are missing. */
    private static OptionalDouble transformersJs(Model model, SessionConfig sessions) {
        if (!Files.isDirectory(transformersJsDir().resolve("node_modules"))) {
            return OptionalDouble.empty();
        }
        long[] ids;
        try (Tokenizer tokenizer = Tokenizer.load(model.dir(), ModelConfig.load(model.dir()))) {
            ids = tokenizer.encode(model.prompt(), true);
        }
        String prompt = Arrays.stream(ids).mapToObj(Long::toString).collect(Collectors.joining(","));
        JsonNode out = NodePeer.run("transformersjs", "decode_speed.mjs", List.of(model.dir().toString(),
                Integer.toString(model.tokens()), Integer.toString(model.reps()), prompt, Integer.toString(sessions.resolvedIntraOpThreads()),
                sessions.spinning() ? "1" : "0", sessions.memoryArena() ? "1" : "0"));
        double rate = out.get("decode_tokens_per_second").asDouble();
        System.err.printf(Locale.ROOT, "%s transformers.js: prefill %.1f ms, decode %.1f tok/s%n", model.name(),
                out.get("prefill_ms").asDouble(), rate);
        return OptionalDouble.of(rate);
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
