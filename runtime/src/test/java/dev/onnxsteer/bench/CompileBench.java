package dev.onnxsteer.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.generate.ModelLayout;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.Device;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Compiler benchmark (not a test, issue 4), on the generated ~100M models ({@link BenchModels}):
 * <ol>
 *   <li>Compile time with external weights: {@code compileTo} (read, find sites, steer, write the
 *       model directory with the weight file linked) on the 100M Llama and on the same graph with 4x
 *       the weight bytes, against a plain copy of the 100M weight file. Reps interleaved, medians.</li>
 *   <li>Per-token decode latency of the {@code add}, {@code input} and {@code bias} compilations
 *       relative to the original model: all sessions open at once (one intra-op thread by default,
 *       which is far less sensitive to other load on a shared machine), one decode step (one new
 *       token after 128 cached positions) of each variant in turn, for many rounds with the order
 *       rotating; the ratio is taken per round against that round's original step and the median of
 *       those ratios is reported. The Llama has no biases, so {@code bias} is measured on the GPT-2
 *       layout (Conv1D biases); {@code add} and {@code input} on both, and on the Llama's onnxruntime-genai
 *       layout ({@link BenchModels#llamaGenai()}: GroupQueryAttention, fused skip norms, the same weights).</li>
 * </ol>
 * Steering: a seeded random vector, coefficient 4, at {@code resid_post} of the six middle layers.
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.CompileBench
 * -pl runtime -am verify} (device {@code -Dbench.device=cpu|cuda}). Run directly with java, the JVM
 * properties {@code bench.rounds} (101), {@code bench.compileReps} (7), {@code bench.threads} (1) and
 * {@code bench.parts} ({@code compile,decode}; {@code decode,genai-only} times the genai layout alone) apply too.
 */
public final class CompileBench {
    private static final int[] LAYERS = {3, 4, 5, 6, 7, 8};
    private static final float COEFFICIENT = 4f;
    /** Cached positions before the timed decode step. */
    private static final int PAST = 128;

    private CompileBench() {}

    public static void main(String[] args) throws IOException, OrtException {
        Device device = Device.parse(System.getProperty("bench.device", "cpu"));
        int compileReps = Integer.getInteger("bench.compileReps", 7);
        int rounds = Integer.getInteger("bench.rounds", 101);
        int threads = Integer.getInteger("bench.threads", 1);
        System.out.printf(Locale.ROOT, "machine: %d cores, %s %s, java %s, device %s%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"), System.getProperty("os.arch"),
                System.getProperty("java.version"), device);
        Path work = Files.createDirectories(BenchModels.root().resolve("compiled"));
        try {
            String parts = System.getProperty("bench.parts", "compile,decode");
            if (parts.contains("compile")) {
                compileTime(BenchModels.llama(), BenchModels.llama("llama-400m", BenchModels.LLAMA_4X), work, compileReps);
            }
            if (!parts.contains("decode")) {
                return;
            }
            SessionConfig sessions = SessionConfig.cpu().withDevice(device).withThreads(threads, 1)
                    .withDiagnostics(System.err::println);
            if (!parts.contains("genai-only")) {
                decodeLatency("llama-100m", BenchModels.llama(), BenchModels.LLAMA.hidden(), List.of(Mode.ADD, Mode.INPUT), work, rounds, sessions);
                decodeLatency("gpt2-100m", BenchModels.gpt2(), BenchModels.GPT2.hidden(), List.of(Mode.ADD, Mode.INPUT, Mode.BIAS), work, rounds, sessions);
            }
            // the onnxruntime-genai layout (import --format genai) of the same Llama weights: no biases, so add and input
            decodeLatency("llama-100m-genai", BenchModels.llamaGenai(), BenchModels.LLAMA.hidden(), List.of(Mode.ADD, Mode.INPUT), work,
                    rounds, sessions);
        } finally {
            AtomicFiles.deleteTree(work);
        }
    }

    static List<Steering> steerings(int hidden, long seed) {
        Random random = new Random(seed);
        List<Steering> steerings = new ArrayList<>();
        for (int layer : LAYERS) {
            float[] v = new float[hidden];
            for (int i = 0; i < hidden; i++) {
                v[i] = (float) random.nextGaussian();
            }
            steerings.add(new Steering(SiteKind.RESID_POST, layer, v, COEFFICIENT));
        }
        return steerings;
    }

    private static void compileTime(Path small, Path large, Path work, int reps) throws IOException {
        ModelFiles smallFiles = ModelFiles.locate(small, null);
        ModelFiles largeFiles = ModelFiles.locate(large, null);
        List<Steering> smallSteer = steerings(BenchModels.LLAMA.hidden(), 1);
        List<Steering> largeSteer = steerings(BenchModels.LLAMA_4X.hidden(), 1);
        Path weights = small.resolve("model.onnx.data");
        double[] smallMs = new double[reps];
        double[] largeMs = new double[reps];
        double[] copyMs = new double[reps];
        // one untimed compile of each warms the JIT and the page cache of the small model files
        compileOnce(smallFiles, smallSteer, work.resolve("warm-small"));
        compileOnce(largeFiles, largeSteer, work.resolve("warm-large"));
        for (int i = 0; i < reps; i++) {
            smallMs[i] = compileOnce(smallFiles, smallSteer, work.resolve("small"));
            largeMs[i] = compileOnce(largeFiles, largeSteer, work.resolve("large"));
            Path copy = work.resolve("copy.data");
            long t0 = System.nanoTime();
            Files.copy(weights, copy);
            copyMs[i] = (System.nanoTime() - t0) / 1e6;
            Files.delete(copy);
            System.err.printf(Locale.ROOT, "compile rep %d: 100M %.1f ms, 4x %.1f ms, copy %.1f ms%n", i, smallMs[i],
                    largeMs[i], copyMs[i]);
        }
        double s = GenerationBench.median(smallMs);
        double l = GenerationBench.median(largeMs);
        double c = GenerationBench.median(copyMs);
        long smallBytes = Files.size(weights);
        long largeBytes = Files.size(large.resolve("model.onnx.data"));
        System.out.println();
        System.out.printf(Locale.ROOT, "compile time (add, resid_post x %d layers, write with weights linked), median of %d:%n",
                LAYERS.length, reps);
        System.out.println("| model | weight bytes | compile ms | plain copy of the weight file ms |");
        System.out.println("|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| llama-100m | %.0f MB | %.1f | %.1f |%n", smallBytes / 1e6, s, c);
        System.out.printf(Locale.ROOT, "| llama-400m (4x weights) | %.0f MB | %.1f | |%n", largeBytes / 1e6, l);
        System.out.printf(Locale.ROOT, "compile time ratio 4x / 1x: %.2f (weight bytes ratio %.2f); compile / copy: %.3f%n",
                l / s, (double) largeBytes / smallBytes, s / c);
    }

    private static double compileOnce(ModelFiles source, List<Steering> steerings, Path out) {
        long t0 = System.nanoTime();
        Compilation.compileTo(source, steerings, Mode.ADD, out);
        double ms = (System.nanoTime() - t0) / 1e6;
        AtomicFiles.deleteTree(out);
        return ms;
    }

    /**
     * Times one decode step ({@code OrtSession.run} with one new token after {@link #PAST} cached
     * positions) of every variant in turn, {@code rounds} times, rotating which variant goes first.
     */
    private static void decodeLatency(String name, Path original, int hidden, List<Mode> modes, Path work, int rounds,
            SessionConfig sessions) throws OrtException {
        ModelFiles source = ModelFiles.locate(original, null);
        Map<String, Path> variants = new LinkedHashMap<>();
        variants.put("original", original);
        for (Mode mode : modes) {
            Path out = work.resolve(name + "-" + mode.label());
            Compilation.compileTo(source, steerings(hidden, 2), mode, out);
            variants.put(mode.label(), out);
        }
        // a second session of the unchanged model: its ratio is the noise floor of the comparison
        variants.put("original, second session", original);
        List<String> labels = List.copyOf(variants.keySet());
        int n = labels.size();
        List<ModelSession> open = new ArrayList<>();
        List<OnnxTensor> tensors = new ArrayList<>();
        try {
            List<Map<String, OnnxTensor>> feeds = new ArrayList<>();
            for (Path dir : variants.values()) {
                ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), sessions);
                open.add(session);
                // input mode: the steering inputs' defaults are lifted when a session opens; feed them back
                feeds.add(session.withInputDefaults(decodeStepInputs(ModelLayout.detect(session.ort(), session.source()), tensors)));
            }
            for (int v = 0; v < n; v++) {
                for (int warm = 0; warm < 3; warm++) {
                    open.get(v).ort().run(feeds.get(v)).close();
                }
            }
            double[][] ms = new double[n][rounds];
            for (int round = 0; round < rounds; round++) {
                for (int k = 0; k < n; k++) {
                    int v = (round + k) % n;
                    long t0 = System.nanoTime();
                    try (OrtSession.Result result = open.get(v).ort().run(feeds.get(v))) {
                        ms[v][round] = (System.nanoTime() - t0) / 1e6;
                    }
                }
            }
            System.out.println();
            System.out.printf(Locale.ROOT, "%s: one decode step after %d cached positions, %s, %d interleaved rounds:%n",
                    name, PAST, sessions.device(), rounds);
            System.out.println("| variant | median ms/token | min ms/token | median of per-round ratios | ratio of mins |");
            System.out.println("|---|---|---|---|---|");
            double originalMin = Arrays.stream(ms[0]).min().orElseThrow();
            for (int v = 0; v < n; v++) {
                double[] ratios = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    ratios[r] = ms[v][r] / ms[0][r];
                }
                double min = Arrays.stream(ms[v]).min().orElseThrow();
                System.out.printf(Locale.ROOT, "| %s | %.2f | %.2f | %.3fx | %.3fx |%n", labels.get(v),
                        GenerationBench.median(ms[v]), min, GenerationBench.median(ratios), min / originalMin);
            }
        } finally {
            tensors.forEach(OnnxTensor::close);
            open.forEach(ModelSession::close);
        }
        addedNodeShare(name, original, variants, sessions.intraOpThreads(), work);
    }

    /**
     * The cost of steering measured inside ONNX Runtime, much less sensitive to the machine's load:
     * each compiled variant runs 50 decode steps with ORT profiling on, and the median kernel time
     * of each node the compiler added (node names absent from the original), summed, is divided by
     * the median {@code model_run} time of a step.
     */
    private static void addedNodeShare(String name, Path original, Map<String, Path> variants, int threads,
            Path work) throws OrtException {
        final int steps = 50;
        Set<String> originalNodes = nodeNames(original);
        System.out.println();
        System.out.printf(Locale.ROOT, "%s: kernel time of the nodes steering added, ORT profiling over %d decode steps (medians):%n",
                name, steps);
        System.out.println("| variant | nodes added | added-node kernel time per step (us) | model_run per step (ms) | share |");
        System.out.println("|---|---|---|---|---|");
        for (Map.Entry<String, Path> variant : variants.entrySet()) {
            if (variant.getValue().equals(original)) {
                continue;
            }
            Set<String> added = new HashSet<>(nodeNames(variant.getValue()));
            added.removeAll(originalNodes);
            List<OnnxTensor> tensors = new ArrayList<>();
            Path profile;
            try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
                options.setIntraOpNumThreads(threads);
                options.enableProfiling(work.resolve("profile-" + name + "-" + variant.getKey().replace(' ', '_'))
                        .toString());
                try (OrtSession session = Ort.env().createSession(
                        variant.getValue().resolve("model.onnx").toString(), options)) {
                    Map<String, OnnxTensor> feed = decodeStepInputs(ModelLayout.detect(session, name), tensors);
                    for (int i = 0; i < steps; i++) {
                        session.run(feed).close();
                    }
                    profile = Path.of(session.endProfiling());
                } finally {
                    tensors.forEach(OnnxTensor::close);
                }
            }
            double[] medians = profileMedians(profile, added);
            System.out.printf(Locale.ROOT, "| %s | %d | %.1f | %.2f | %.3f%% |%n", variant.getKey(), added.size(),
                    medians[0], medians[1] / 1000, 100 * medians[0] / medians[1]);
        }
    }

    private static Set<String> nodeNames(Path dir) {
        Set<String> names = new HashSet<>();
        for (var graph : ModelReader.read(dir.resolve("model.onnx")).graph().allGraphs()) {
            graph.nodes().forEach(node -> names.add(node.name()));
        }
        return names;
    }

    /**
     * [added microseconds per step, model_run microseconds per step]: the sum over {@code nodes} of each
     * node's median kernel time, and the median model_run time (medians, so that a step preempted
     * by other load on the machine does not count).
     */
    private static double[] profileMedians(Path profile, Set<String> nodes) {
        try {
            JsonNode root = new ObjectMapper().readTree(profile.toFile());
            JsonNode events = root.isArray() ? root : root.path("traceEvents");
            Map<String, List<Double>> kernels = new LinkedHashMap<>();
            List<Double> runs = new ArrayList<>();
            for (JsonNode event : events) {
                String eventName = event.path("name").asText();
                double dur = event.path("dur").asDouble();
                String node = eventName.endsWith("_kernel_time")
                        ? eventName.substring(0, eventName.length() - "_kernel_time".length()) : null;
                if (event.path("cat").asText().equals("Node") && node != null && nodes.contains(node)) {
                    kernels.computeIfAbsent(node, k -> new ArrayList<>()).add(dur);
                } else if (event.path("cat").asText().equals("Session") && eventName.equals("model_run")) {
                    runs.add(dur);
                }
            }
            double added = 0;
            for (List<Double> durations : kernels.values()) {
                added += GenerationBench.median(durations.stream().mapToDouble(Double::doubleValue).toArray());
            }
            return new double[] {added, GenerationBench.median(runs.stream().mapToDouble(Double::doubleValue).toArray())};
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot read ORT profile " + profile, e);
        }
    }

    /** Batch 1, one new token at position {@link #PAST}, a zero KV cache of {@link #PAST} positions. */
    private static Map<String, OnnxTensor> decodeStepInputs(ModelLayout layout, List<OnnxTensor> created)
            throws OrtException {
        OrtEnvironment env = Ort.env();
        Map<String, OnnxTensor> feed = new LinkedHashMap<>();
        feed.put(layout.inputIds(), track(created, OnnxTensor.createTensor(env, new long[][] {{42}})));
        long[][] mask = new long[1][PAST + 1];
        Arrays.fill(mask[0], 1);
        layout.attentionMask().ifPresent(m -> feed.put(m, track(created, tensor(env, mask))));
        layout.positionIds().ifPresent(p -> feed.put(p, track(created, tensor(env, new long[][] {{PAST}}))));
        for (ModelLayout.CacheSlot slot : layout.cache()) {
            long[] shape = slot.shapeFor(1, PAST);
            long count = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            FloatBuffer zeros = FloatBuffer.allocate(Math.toIntExact(count));
            feed.put(slot.past(), track(created, OnnxTensor.createTensor(env, zeros, shape)));
        }
        return feed;
    }

    private static OnnxTensor tensor(OrtEnvironment env, long[][] values) {
        try {
            return OnnxTensor.createTensor(env, values);
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    private static OnnxTensor track(List<OnnxTensor> created, OnnxTensor tensor) {
        created.add(tensor);
        return tensor;
    }
}
