package dev.onnxsteer.bench;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.session.Device;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Generation benchmark (not a test, issue 3): prefill and decode tokens per second with the KV
 * cache, and the share of wall time spent outside {@code OrtSession.run} (everything the Java side
 * does: tokenizing, building input tensors, copying logits, sampling, streaming text), on
 * stories260K imported from GGUF and on the generated ~100M Llama ({@link BenchModels#llama()}).
 * Each model: warm-up runs, then {@code reps} greedy generations of a fixed prompt and a fixed
 * number of tokens (EOS ignored); figures are medians.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.GenerationBench
 * -pl runtime -am verify}. Device {@code -Dbench.device=cpu|cuda|auto} (java property; default cpu).
 * {@code -Dbench.set=flavours} measures the deployment-flavour fixtures instead ({@link #FLAVOURS}: the same
 * llama-tiny weights as float32, float16, the onnxruntime-genai layout, int4, q4f16, int8, QDQ and bnb4), one
 * run each after three warm-ups, with each decode speed as a ratio to the float32 model's.
 */
public final class GenerationBench {
    private static final String STORY = "Once upon a time, there was a little girl named Lily. She loved to play "
            + "outside in the park with her friends. One day, she saw a big red ball under a tree.";

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

    private GenerationBench() {}

    /** One model's figures (medians). */
    record Figures(String model, int promptTokens, int generatedTokens, double prefillTokensPerSecond,
            double prefillMs, double decodeTokensPerSecond, double wallMs, double runMs, double outsideShare) {}

    public static void main(String[] args) {
        Device device = Device.parse(System.getProperty("bench.device", "cpu"));
        SessionConfig sessions = SessionConfig.cpu().withDevice(device).withDiagnostics(System.err::println);
        System.out.printf(Locale.ROOT, "machine: %d cores, %s %s, java %s, device %s%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"), System.getProperty("os.arch"),
                System.getProperty("java.version"), device);
        if (System.getProperty("bench.set", "models").equals("flavours")) {
            flavours(sessions);
            return;
        }
        List<Figures> results = new ArrayList<>();
        results.add(measure("stories260K", stories260K(), STORY, 128, 3, 11, sessions));
        results.add(measure("llama-100m", BenchModels.llama(), STORY.substring(0, 64), 64, 2, 5, sessions));
        System.out.println();
        System.out.println("| model | prompt tokens | generated | prefill tok/s | prefill ms | decode tok/s "
                + "| wall ms | in run ms | outside run |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        for (Figures f : results) {
            System.out.printf(Locale.ROOT, "| %s | %d | %d | %.0f | %.1f | %.1f | %.1f | %.1f | %.2f%% |%n",
                    f.model(), f.promptTokens(), f.generatedTokens(), f.prefillTokensPerSecond(), f.prefillMs(),
                    f.decodeTokensPerSecond(), f.wallMs(), f.runMs(), 100 * f.outsideShare());
        }
    }

    /** Decode tokens/s of each of {@link #FLAVOURS}: one run of 64 greedy tokens after three warm-ups, ratio to fp32. */
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

    /** stories260K imported from ../shared once, under the bench model root. */
    static Path stories260K() {
        Path dir = BenchModels.root().resolve("stories260K");
        if (!Files.isRegularFile(dir.resolve("model.onnx"))) {
            Path gguf = TestPaths.root().resolve("../shared/models/stories260K/stories260K.gguf").normalize();
            GgufImporter.importModel(gguf, dir);
        }
        return dir;
    }

    static Figures measure(String name, Path dir, String prompt, int tokens, int warmups, int reps,
            SessionConfig sessions) {
        ModelConfig config = ModelConfig.load(dir);
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), sessions);
                Tokenizer tokenizer = Tokenizer.load(dir, config)) {
            Generator generator = Generator.create(session, tokenizer, config);
            GenerationConfig generation = GenerationConfig.greedy(tokens).withEosTokenIds(List.of(-1L));
            double[] prefill = new double[reps];
            double[] decode = new double[reps];
            double[] wall = new double[reps];
            double[] run = new double[reps];
            double[] outside = new double[reps];
            Generation last = null;
            for (int i = -warmups; i < reps; i++) {
                long t0 = System.nanoTime();
                Generation g = generator.generate(List.of(prompt), generation).get(0);
                double ms = (System.nanoTime() - t0) / 1e6;
                if (i < 0) {
                    continue;
                }
                prefill[i] = g.prefillMs();
                decode[i] = g.decodeTokensPerSecond();
                wall[i] = ms;
                run[i] = g.runMs();
                outside[i] = 1 - g.runMs() / ms;
                last = g;
                System.err.printf(Locale.ROOT, "%s rep %d: prefill %.1f ms, decode %.1f tok/s, wall %.1f ms, "
                        + "outside run %.2f%%%n", name, i, g.prefillMs(), g.decodeTokensPerSecond(), ms, 100 * outside[i]);
            }
            return new Figures(name, last.promptTokens(), last.generatedTokens(),
                    last.promptTokens() / (median(prefill) / 1e3), median(prefill), median(decode), median(wall),
                    median(run), median(outside));
        }
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
