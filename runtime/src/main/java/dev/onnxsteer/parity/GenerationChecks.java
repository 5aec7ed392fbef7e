package dev.onnxsteer.parity;

import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.session.GraphOptimization;
import dev.onnxsteer.session.ModelSession;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The checks that generate: KV-cached against full-recompute greedy tokens of the steered model
 * ({@code cache}), and what the steering changes against the original ({@code effect}).
 */
final class GenerationChecks {
    private final ParityStaging staging;
    private final int generateTokens;

    GenerationChecks(ParityStaging staging, int generateTokens) {
        this.staging = staging;
        this.generateTokens = generateTokens;
    }

    /**
     * Cached and recomputed greedy tokens must be identical, except in a graph with
     * {@code DynamicQuantizeLinear}: it picks each run's activation scale from the whole tensor it is given,
     * so a one-token cached step and a full recompute round differently and the original model itself
     * drifts (its greedy tokens can differ). There the logits are compared instead ({@link #drift}), and the
     * steered model may drift up to {@link ParityHarness#DYNAMIC_QUANTIZATION_DRIFT_FACTOR} times the
     * original's own drift on the same prompts.
     */
    ParityCheck cache(Path steered, List<long[]> prompts, Model originalModel) {
        boolean dynamicQuantized = originalModel.graph().allGraphs().stream()
                .flatMap(g -> g.nodes().stream()).anyMatch(n -> n.is("DynamicQuantizeLinear"));
        try (ModelSession session = staging.open(steered, GraphOptimization.ALL)) {
            Generator generator = Generator.create(session, null, staging.config());
            if (!generator.layout().hasCache()) {
                return ParityCheck.skipped("cache", "the model has no KV-cache inputs; generation always recomputes");
            }
            if (staging.int8ActivationNodes() > 0) {
                return int8ActivationCache(steered, session, generator, prompts);
            }
            if (dynamicQuantized) {
                double own = drift(session, generator, prompts).max();
                double original;
                try (ModelSession base = staging.open(staging.original().onnx(), GraphOptimization.ALL)) {
                    original = drift(base, Generator.create(base, null, staging.config()), prompts).max();
                }
                return ParityCheck.compare("cache", own, ParityHarness.DYNAMIC_QUANTIZATION_DRIFT_FACTOR * original,
                        String.format("largest logit difference of KV-cached steps vs full recompute (%d greedy tokens); "
                        + "the graph has DynamicQuantizeLinear, so the tolerance is %.0fx the original's own %.3g",
                        generateTokens, ParityHarness.DYNAMIC_QUANTIZATION_DRIFT_FACTOR, original));
            }
            int differing = promptsGeneratingDifferently(generator, prompts);
            return new ParityCheck("cache", differing == 0 ? ParityCheck.Status.PASSED : ParityCheck.Status.FAILED,
                    differing, 0, differing + " of " + prompts.size() + " prompts generate different tokens with the "
                    + "KV cache than with full recompute (" + generateTokens + " greedy tokens)");
        }
    }

    /** How many prompts give different greedy tokens with the KV cache than with full recompute. */
    private int promptsGeneratingDifferently(Generator generator, List<long[]> prompts) {
        GenerationConfig greedy = greedy();
        List<Generation> cached = generator.generateIds(prompts, greedy, ExtraInputs.NONE, TokenListener.NONE);
        List<Generation> recomputed = generator.generateIds(prompts, greedy.withUseCache(false), ExtraInputs.NONE,
                TokenListener.NONE);
        int differing = 0;
        for (int i = 0; i < prompts.size(); i++) {
            if (!Arrays.equals(cached.get(i).tokenIdArray(), recomputed.get(i).tokenIdArray())) {
                differing++;
            }
        }
        return differing;
    }

    /**
     * The cache check on a model whose MatMulNBits quantise activations to int8 ({@link Int8Activations}): a cached
     * step C and a full recompute R of the same tokens differ by float ulps before each quantiser, which can flip
     * int8 roundings, so their tokens may differ and the logits are compared instead (teacher-forced, see
     * {@link #drift}). Through the float-activation twin, |C - R| <= |C - C0| + |C0 - R0| + |R0 - R|: the twin's
     * own drift |C0 - R0| (measured on its own greedy run) and twice the int8 noise |R - R0| measured on the same
     * sequences (a cached step quantises the same row as the recompute does, so its noise is of the same size).
     * The rewrite never touches {@code accuracy_level}, so the twin must also pass the float check itself: the same
     * greedy tokens with the cache as without.
     */
    private ParityCheck int8ActivationCache(Path steered, ModelSession session, Generator generator, List<long[]> prompts) {
        Drift own = drift(session, generator, prompts);
        Path twin = staging.floatActivationTwin("cache", steered);
        double twinDrift;
        double noise;
        int twinDiffering;
        try (ModelSession floats = staging.open(twin, GraphOptimization.ALL)) {
            Generator twinGenerator = Generator.create(floats, null, staging.config());
            twinDrift = drift(floats, twinGenerator, prompts).max();
            twinDiffering = promptsGeneratingDifferently(twinGenerator, prompts);
            noise = ReferenceOps.maxDiff(ParityStaging.logits(session, own.sequences(), own.promptLengths()),
                    ParityStaging.logits(floats, own.sequences(), own.promptLengths()));
        }
        double tolerance = twinDrift + 2 * noise;
        boolean passed = twinDiffering == 0 && own.max() <= tolerance;
        return new ParityCheck("cache", passed ? ParityCheck.Status.PASSED : ParityCheck.Status.FAILED, own.max(),
                tolerance, String.format("largest logit difference of KV-cached steps vs full recompute (%d greedy "
                + "tokens); int8 activations (accuracy_level %d on %d MatMulNBits): on the accuracy_level 0 twin %d of "
                + "%d prompts generate different tokens with the KV cache, and the tolerance is its own drift %.3g "
                + "plus twice %.3g, how far int8 rounding moves the recomputed logits", generateTokens,
                Int8Activations.LEVEL, staging.int8ActivationNodes(), twinDiffering, prompts.size(), twinDrift, noise));
    }

    /** A model's cache drift ({@link #drift}) and the prompt + greedy-token sequences it was measured on. */
    private record Drift(double max, List<long[]> sequences, long[] promptLengths) {}

    /**
     * The largest difference between the logits a model's KV-cached greedy run saw at each step and those one
     * full forward pass over prompt + the same tokens gives at the same positions (teacher-forced, so a
     * divergent token does not cascade).
     */
    private Drift drift(ModelSession session, Generator generator, List<long[]> prompts) {
        List<List<float[]>> stepLogits = new ArrayList<>();
        prompts.forEach(p -> stepLogits.add(new ArrayList<>()));
        generator.observeLogits((step, row, logits) -> stepLogits.get(row).add(logits));
        List<Generation> cached;
        try {
            cached = generator.generateIds(prompts, greedy(), ExtraInputs.NONE, TokenListener.NONE);
        } finally {
            generator.observeLogits(null);
        }
        List<long[]> sequences = new ArrayList<>();
        long[] promptLengths = new long[prompts.size()];
        for (int i = 0; i < prompts.size(); i++) {
            long[] prompt = prompts.get(i);
            long[] generated = cached.get(i).tokenIdArray();
            long[] sequence = Arrays.copyOf(prompt, prompt.length + Math.max(0, generated.length - 1));
            System.arraycopy(generated, 0, sequence, prompt.length, sequence.length - prompt.length);
            sequences.add(sequence);
            promptLengths[i] = prompt.length;
        }
        List<float[]> recomputed = ParityStaging.logits(session, sequences, promptLengths);
        double drift = 0;
        for (int i = 0; i < prompts.size(); i++) {
            float[] all = recomputed.get(i);
            int vocab = all.length / sequences.get(i).length;
            int first = prompts.get(i).length - 1;
            for (int step = 0; step < stepLogits.get(i).size(); step++) {
                float[] seen = stepLogits.get(i).get(step);
                for (int t = 0; t < vocab; t++) {
                    drift = Math.max(drift, Math.abs(seen[t] - all[(first + step) * vocab + t]));
                }
            }
        }
        return new Drift(drift, sequences, promptLengths);
    }

    private GenerationConfig greedy() {
        return GenerationConfig.greedy(generateTokens).withEosTokenIds(List.of());
    }

    ParityCheck effect(Path steered, List<long[]> prompts) {
        GenerationConfig greedy = greedy();
        ModelConfig config = staging.config();
        List<float[]> base;
        List<float[]> steeredRows;
        List<Generation> before;
        List<Generation> after;
        // one model open at a time, each used for both its logits and its greedy continuations
        try (ModelSession session = staging.open(staging.original().onnx(), GraphOptimization.ALL)) {
            base = lastRows(ParityStaging.logits(session, prompts), prompts);
            before = Generator.create(session, null, config).generateIds(prompts, greedy, ExtraInputs.NONE, TokenListener.NONE);
        }
        try (ModelSession session = staging.open(steered, GraphOptimization.ALL)) {
            steeredRows = lastRows(ParityStaging.logits(session, prompts), prompts);
            after = Generator.create(session, null, config).generateIds(prompts, greedy, ExtraInputs.NONE, TokenListener.NONE);
        }
        double kl = 0;
        for (int i = 0; i < prompts.size(); i++) {
            kl += ReferenceOps.klDivergence(steeredRows.get(i), base.get(i));
        }
        kl /= prompts.size();
        int changed = 0;
        for (int i = 0; i < prompts.size(); i++) {
            if (!Arrays.equals(before.get(i).tokenIdArray(), after.get(i).tokenIdArray())) {
                changed++;
            }
        }
        return ParityCheck.info("effect", kl, String.format(
                "mean KL(steered || original) of the next token %.6f nats; greedy continuation changed for %d of %d prompts",
                kl, changed, prompts.size()));
    }

    private static List<float[]> lastRows(List<float[]> logits, List<long[]> prompts) {
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            float[] all = logits.get(i);
            int vocab = all.length / prompts.get(i).length;
            rows.add(Arrays.copyOfRange(all, all.length - vocab, all.length));
        }
        return rows;
    }
}
