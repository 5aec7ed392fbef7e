package dev.onnxsteer.bench;

import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.Device;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.steer.SteeredSession;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Operations benchmark (not a test, issue 6): per-token decode latency with the KV cache of models
 * compiled with {@code ablate} (resid_post of every layer), {@code orthogonalize}, position-masked
 * {@code add} ({@code --positions generated} at the middle layer's resid_post) and a per-row vector
 * bank (4 vectors, {@code --mode input --bank}, at the same site), relative to the unsteered model,
 * all open at once and measured in one run: the variants take turns within every repetition so
 * drift of the machine hits them alike (the first variant rotates too). Figures: medians of per-token decode
 * time, and the median over repetitions of each variant's time divided by the unsteered time of the same
 * repetition.
 *
 * <p>Model: the generated ~100M Llama of {@link BenchModels#llama()} ({@code -Dbench.ops.model=gpt2}
 * for the GPT-2 one). Run: {@code mvn -B -q -DskipTests -Dbench=runtime
 * -Dbench.main=dev.onnxsteer.bench.OpsBench -pl runtime -am verify} (device {@code -Dbench.device}).
 */
public final class OpsBench {
    private OpsBench() {}

    public static void main(String[] args) {
        Device device = Device.parse(System.getProperty("bench.device", "cpu"));
        SessionConfig sessions = SessionConfig.cpu().withDevice(device).withDiagnostics(System.err::println);
        boolean gpt2 = System.getProperty("bench.ops.model", "llama").equals("gpt2");
        Path dir = gpt2 ? BenchModels.gpt2() : BenchModels.llama();
        int tokens = Integer.getInteger("bench.ops.tokens", 48);
        int reps = Integer.getInteger("bench.ops.reps", 15);
        System.out.printf(Locale.ROOT, "machine: %d cores, %s %s, java %s, device %s%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"), System.getProperty("os.arch"),
                System.getProperty("java.version"), device);
        ModelFiles source = ModelFiles.locate(dir, null);
        SiteMap sites = SiteFinder.find(ModelReader.read(source.onnx()));
        int middle = sites.layerCount() / 2;
        long hidden = sites.hiddenSize();
        System.out.printf(Locale.ROOT, "model: %s (%d layers, hidden %d), %d tokens decoded per run, %d reps%n",
                dir, sites.layerCount(), hidden, tokens, reps);

        List<Steering> everyLayer = new ArrayList<>();
        for (int layer = 0; layer < sites.layerCount(); layer++) {
            everyLayer.add(new Steering(SiteKind.RESID_POST, layer, vector(hidden, 1), 1f));
        }
        List<Steering> bank = new ArrayList<>();
        for (int k = 0; k < 4; k++) {
            bank.add(new Steering(SiteKind.RESID_POST, middle, vector(hidden, 10 + k), 4f));
        }
        Map<String, ModelSession> variants = new LinkedHashMap<>();
        try {
            variants.put("unsteered", SessionFactory.open(source.onnx(), sessions));
            variants.put("ablate (every layer)", open(source, everyLayer, Mode.ADD, SteerOptions.of(SteerOp.ABLATE),
                    sessions));
            variants.put("orthogonalize", open(source, everyLayer.subList(0, 1), Mode.ADD,
                    SteerOptions.of(SteerOp.ORTHOGONALIZE), sessions));
            variants.put("add --positions generated", open(source,
                    List.of(new Steering(SiteKind.RESID_POST, middle, vector(hidden, 2), 4f)), Mode.ADD,
                    SteerOptions.ADD.withPositions(Positions.parse("generated")), sessions));
            variants.put("bank (K=4, row 2)", open(source, bank, Mode.INPUT, SteerOptions.ADD.withBank(true), sessions));

            ModelConfig config = ModelConfig.load(dir);
            GenerationConfig generation = GenerationConfig.greedy(tokens).withEosTokenIds(List.of(-1L));
            List<long[]> prompt = List.of(new long[] {1, 450, 2217, 338, 263, 931, 29892, 727, 471, 263, 2217, 7826});
            Map<String, double[]> perToken = new LinkedHashMap<>();
            variants.keySet().forEach(name -> perToken.put(name, new double[reps]));
            List<Map.Entry<String, ModelSession>> order = new ArrayList<>(variants.entrySet());
            for (int rep = -1; rep < reps; rep++) {
                // a different variant goes first in each repetition, so warm-up and drift are shared out
                java.util.Collections.rotate(order, 1);
                for (Map.Entry<String, ModelSession> variant : order) {
                    Generator generator = Generator.create(variant.getValue(), null, config);
                    Generation g;
                    if (variant.getKey().startsWith("bank")) {
                        try (SteeredSession steered = SteeredSession.of(variant.getValue())) {
                            g = steered.generateIds(generator, prompt, List.of(SteeredSession.Choice.of(2, 4f)), generation,
                                    TokenListener.NONE).get(0);
                        }
                    } else {
                        g = generator.generateIds(prompt, generation, dev.onnxsteer.generate.ExtraInputs.NONE,
                                TokenListener.NONE).get(0);
                    }
                    if (rep >= 0) {
                        perToken.get(variant.getKey())[rep] = 1000.0 / g.decodeTokensPerSecond();
                    }
                }
            }
            double[] base = perToken.get("unsteered");
            System.out.println();
            System.out.println("| variant | decode ms/token (median) | min | max | relative to unsteered (median of "
                    + "per-repetition ratios) |");
            System.out.println("|---|---|---|---|---|");
            for (Map.Entry<String, double[]> e : perToken.entrySet()) {
                double[] v = e.getValue();
                double[] ratios = new double[reps];
                for (int i = 0; i < reps; i++) {
                    ratios[i] = v[i] / base[i];
                }
                System.out.printf(Locale.ROOT, "| %s | %.2f | %.2f | %.2f | %.3fx |%n", e.getKey(),
                        GenerationBench.median(v), java.util.Arrays.stream(v).min().orElse(0),
                        java.util.Arrays.stream(v).max().orElse(0), GenerationBench.median(ratios));
            }
        } finally {
            variants.values().forEach(ModelSession::close);
        }
    }

    private static ModelSession open(ModelFiles source, List<Steering> steerings, Mode mode, SteerOptions options,
            SessionConfig sessions) {
        Compilation.Result compiled = Compilation.compile(source, sites -> steerings, mode, options);
        return SessionFactory.open(compiled.model(), source.onnx() + " (" + options.op().label() + ")", sessions);
    }

    private static float[] vector(long size, long seed) {
        Random random = new Random(seed);
        float[] v = new float[(int) size];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }
}
