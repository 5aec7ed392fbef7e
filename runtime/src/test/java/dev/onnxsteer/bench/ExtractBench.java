package dev.onnxsteer.bench;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.capture.BatchInputs;
import dev.onnxsteer.capture.Padding;
import dev.onnxsteer.capture.Position;
import dev.onnxsteer.extract.ContrastiveDataset;
import dev.onnxsteer.extract.ContrastivePair;
import dev.onnxsteer.extract.ExtractionOptions;
import dev.onnxsteer.extract.ExtractionProgress;
import dev.onnxsteer.extract.Extractor;
import dev.onnxsteer.extract.Method;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.ModelLayout;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.session.Device;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Extraction benchmark (not a test, issue 5): pairs per second of activation capture and of a whole
 * {@code mean} extraction, against the model's plain forward pass over exactly the same padded batches,
 * measured in one run on the generated ~100M Llama ({@link BenchModels#llama()}, 12 layers, hidden 768).
 * Capture reads {@code resid_post} at every layer. The three passes are interleaved per repetition and
 * reported as medians.
 *
 * <ul>
 *   <li>plain: the original model file, fetching {@code logits} (what any forward pass returns);</li>
 *   <li>capture: the model with 12 site tensors exposed, fetching those and keeping the last position;</li>
 *   <li>extract: tokenizing, capture and the streaming accumulators ({@link Extractor}).</li>
 * </ul>
 *
 * <p>Run: {@code mvn -B -q -DskipTests -Dbench=runtime -Dbench.main=dev.onnxsteer.bench.ExtractBench -pl runtime
 * -am verify}. Java properties: {@code bench.device} (cpu, cuda, auto; default cpu), {@code bench.pairs}
 * (pairs of testdata/happy-sad.jsonl, default 16), {@code bench.batch} (prompts per run, default 8),
 * {@code bench.reps} (default 3).
 */
public final class ExtractBench {
    private ExtractBench() {}

    public static void main(String[] args) throws OrtException {
        Device device = Device.parse(System.getProperty("bench.device", "cpu"));
        int pairCount = Integer.getInteger("bench.pairs", 16);
        int batch = Integer.getInteger("bench.batch", 8);
        int reps = Integer.getInteger("bench.reps", 3);
        SessionConfig sessions = SessionConfig.cpu().withDevice(device).withDiagnostics(System.err::println);
        Path dir = BenchModels.llama();
        ModelFiles files = ModelFiles.locate(dir, null);
        System.out.printf(Locale.ROOT, "machine: %d cores, %s %s, java %s, device %s%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("os.name"), System.getProperty("os.arch"),
                System.getProperty("java.version"), device);

        List<ContrastivePair> pairs = new ArrayList<>();
        ContrastiveDataset.read(TestPaths.testdata().resolve("happy-sad.jsonl")).forEach(p -> {
            if (pairs.size() < pairCount) {
                pairs.add(p);
            }
        });
        ContrastiveDataset data = ContrastiveDataset.of(pairs);
        ModelConfig config = ModelConfig.load(files.directory());
        try (Tokenizer tokenizer = Tokenizer.load(files.tokenizer(), config);
                ModelSession plain = SessionFactory.open(files.onnx(), sessions);
                ActivationCapture capture = ActivationCapture.open(files, SiteKind.RESID_POST,
                        List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), Padding.RIGHT, sessions)) {
            List<long[]> prompts = new ArrayList<>();
            long tokens = 0;
            for (ContrastivePair p : pairs) {
                prompts.add(tokenizer.encode(p.positive(), true));
                prompts.add(tokenizer.encode(p.negative(), true));
                tokens += prompts.get(prompts.size() - 2).length + prompts.get(prompts.size() - 1).length;
            }
            List<List<long[]>> batches = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i += batch) {
                batches.add(prompts.subList(i, Math.min(prompts.size(), i + batch)));
            }
            System.out.printf(Locale.ROOT, "model: %s (12 layers, hidden %d), %d pairs, %d prompt tokens, %d batches of "
                    + "up to %d prompts, capture of resid_post at 12 layers on %s%n", dir.getFileName(),
                    capture.hiddenSize(), pairs.size(), tokens, batches.size(), batch, capture.session().device());
            ModelLayout layout = ModelLayout.detect(plain.ort(), files.onnx().toString());
            Extractor extractor = new Extractor(capture, tokenizer);
            ExtractionOptions options = new ExtractionOptions(Method.MEAN, Position.LAST, false, batch);

            // warm-up: one pass of each
            plainPass(plain, layout, batches);
            capturePass(capture, batches);
            extractor.extract(data, options, null, ExtractionProgress.NONE);

            double[] plainS = new double[reps];
            double[] captureS = new double[reps];
            double[] extractS = new double[reps];
            for (int r = 0; r < reps; r++) {
                long t0 = System.nanoTime();
                plainPass(plain, layout, batches);
                long t1 = System.nanoTime();
                capturePass(capture, batches);
                long t2 = System.nanoTime();
                extractor.extract(data, options, null, ExtractionProgress.NONE);
                long t3 = System.nanoTime();
                plainS[r] = (t1 - t0) / 1e9;
                captureS[r] = (t2 - t1) / 1e9;
                extractS[r] = (t3 - t2) / 1e9;
                System.out.printf(Locale.ROOT, "rep %d: plain %.2f s, capture %.2f s, extract %.2f s%n", r + 1, plainS[r],
                        captureS[r], extractS[r]);
            }
            double p = median(plainS);
            double c = median(captureS);
            double e = median(extractS);
            System.out.println();
            System.out.println("| pass | median s | pairs/s | tokens/s | vs plain |");
            System.out.println("|---|---|---|---|---|");
            row("plain forward (logits)", p, pairs.size(), tokens, p);
            row("capture (12 sites)", c, pairs.size(), tokens, p);
            row("extract mean (tokenize+capture+accumulate)", e, pairs.size(), tokens, p);
        }
    }

    private static void row(String name, double seconds, int pairs, long tokens, double plain) {
        System.out.printf(Locale.ROOT, "| %s | %.3f | %.2f | %.0f | %.2fx |%n", name, seconds, pairs / seconds,
                tokens / seconds, plain / seconds);
    }

    private static void plainPass(ModelSession plain, ModelLayout layout, List<List<long[]>> batches) throws OrtException {
        for (List<long[]> b : batches) {
            try (BatchInputs inputs = BatchInputs.create(layout, b, Padding.RIGHT, 0);
                    OrtSession.Result result = plain.ort().run(inputs.feeds(), Set.of(layout.logits()))) {
                result.get(0);
            }
        }
    }

    private static void capturePass(ActivationCapture capture, List<List<long[]>> batches) {
        for (List<long[]> b : batches) {
            capture.run(b, Position.LAST);
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
