package dev.onnxsteer.extract;

import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.capture.PromptActivations;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.BadInputException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorMetadata;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Turns contrastive pairs into steering vectors: each pair's two prompts are tokenized (with the
 * tokenizer's special tokens, e.g. BOS), run through an {@link ActivationCapture} in batches, and
 * folded into per-layer streaming statistics ({@link LayerAccumulator}); nothing but one batch of
 * activations is held at a time. The result carries metadata: site, method, position, pairs, and
 * per layer {@code raw_norm.L} and {@code activation_norm.L}.
 */
public final class Extractor {
    private final ActivationCapture capture;
    private final Tokenizer tokenizer;

    public Extractor(ActivationCapture capture, Tokenizer tokenizer) {
        this.capture = Objects.requireNonNull(capture, "capture");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
    }

    public ActivationCapture capture() {
        return capture;
    }

    /**
     * Extracts one vector per captured layer.
     *
     * @param sourceModelHash sha256 of the model file, recorded in the metadata (may be null)
     * @throws IllegalArgumentException for {@code diff} with more than one pair, or a prompt that is empty
     *     after tokenization or longer than the model's context (naming the pair)
     */
    public Extraction extract(ContrastiveDataset data, ExtractionOptions options, String sourceModelHash,
            ExtractionProgress progress) {
        if (options.method() == Method.DIFF && data.size() != 1) {
            throw new IllegalArgumentException("--method diff takes exactly one pair (ActAdd) but " + data.describe()
                    + " has " + data.size() + "; use mean, pca or pca-center for datasets");
        }
        Statistics stats = accumulate(data, options, progress);
        Map<Integer, float[]> vectors = new TreeMap<>();
        Map<Integer, Extraction.LayerStats> layerStats = new TreeMap<>();
        VectorMetadata metadata = VectorMetadata.defaults().withSite(capture.kind().label())
                .withMethod(options.method().label()).withSourceModelHash(sourceModelHash)
                .withExtra("pairs", Integer.toString(data.size()))
                .withExtra("position", options.position().label())
                .withExtra("normalized", Boolean.toString(options.normalize()));
        for (int index = 0; index < capture.layers().size(); index++) {
            int layer = capture.layers().get(index);
            LayerAccumulator acc = stats.layers.get(index);
            double[] raw = acc.vector();
            double rawNorm = Math.sqrt(PrincipalComponent.dot(raw, raw));
            if (!(rawNorm > 0) || !Double.isFinite(rawNorm)) {
                // a zero vector steers nothing and its ratio to the activations is NaN: refuse, do not write it
                throw new BadInputException(FileProblem.message(data.describe(), "the pairs give no direction at layer "
                        + layer + ": the positive and negative sides read the same activations there",
                        "pairs that differ after tokenization", "a vector of norm " + rawNorm));
            }
            float[] v = new float[raw.length];
            double scale = options.normalize() && rawNorm > 0 ? 1 / rawNorm : 1;
            for (int i = 0; i < raw.length; i++) {
                v[i] = (float) (raw[i] * scale);
            }
            vectors.put(layer, v);
            layerStats.put(layer, new Extraction.LayerStats(layer, rawNorm, acc.activationNorm()));
            metadata = metadata.withExtra("raw_norm." + layer, format(rawNorm))
                    .withExtra("activation_norm." + layer, format(acc.activationNorm()));
        }
        return new Extraction(SteeringVectors.of(vectors, metadata), layerStats, data.size(), stats.tokens);
    }

    private static String format(double value) {
        return String.format(Locale.ROOT, "%.6g", value);
    }

    /** Per-layer statistics of a dataset, in {@link ActivationCapture#layers()} order. */
    static final class Statistics {
        final List<LayerAccumulator> layers;
        long tokens;

        Statistics(List<LayerAccumulator> layers) {
            this.layers = layers;
        }
    }

    Statistics accumulate(ContrastiveDataset data, ExtractionOptions options, ExtractionProgress progress) {
        List<LayerAccumulator> layers = new ArrayList<>();
        for (int i = 0; i < capture.layers().size(); i++) {
            layers.add(new LayerAccumulator(capture.hiddenSize(), options.method()));
        }
        Statistics stats = new Statistics(layers);
        forEachPair(data, options, progress, (pair, positive, negative) -> {
            for (int i = 0; i < layers.size(); i++) {
                layers.get(i).add(positive.at(i), negative.at(i));
            }
            stats.tokens += positive.tokens() + negative.tokens();
        });
        return stats;
    }

    /** Receives each pair's two captured prompts, in dataset order. */
    @FunctionalInterface
    interface PairSink {
        void accept(ContrastivePair pair, PromptActivations positive, PromptActivations negative);
    }

    /** Runs every pair of {@code data} through the capture in batches of {@code options.batchSize()} prompts. */
    void forEachPair(ContrastiveDataset data, ExtractionOptions options, ExtractionProgress progress, PairSink sink) {
        int total = data.size();
        List<ContrastivePair> pending = new ArrayList<>();
        List<long[]> prompts = new ArrayList<>();
        int[] done = {0};
        PromptActivations[] carried = {null};
        Runnable flush = () -> {
            if (prompts.isEmpty()) {
                return;
            }
            List<PromptActivations> results = capture.run(prompts, options.position());
            int next = 0;
            if (carried[0] != null) {
                sink.accept(pending.remove(0), carried[0], results.get(0));
                carried[0] = null;
                next = 1;
                done[0]++;
            }
            for (; next + 1 < results.size(); next += 2) {
                sink.accept(pending.remove(0), results.get(next), results.get(next + 1));
                done[0]++;
            }
            if (next < results.size()) {
                carried[0] = results.get(next); // this pair's negative is in the next batch
            }
            prompts.clear();
            progress.pairsDone(done[0], total);
        };
        data.forEach(pair -> {
            pending.add(pair);
            for (int side = 0; side < 2; side++) {
                prompts.add(side == 0 ? encode(pair, pair.positive(), "positive") : encode(pair, pair.negative(), "negative"));
                if (prompts.size() == options.batchSize()) {
                    flush.run();
                }
            }
        });
        flush.run();
    }

    private long[] encode(ContrastivePair pair, String text, String side) {
        long[] ids = tokenizer.encode(text, true);
        if (ids.length == 0) {
            throw new IllegalArgumentException(pair.origin() + ": the " + side + " side has no tokens");
        }
        if (capture.maxPositions().isPresent() && ids.length > capture.maxPositions().getAsInt()) {
            throw new IllegalArgumentException(pair.origin() + ": the " + side + " side has " + ids.length
                    + " tokens but the context of " + capture.source() + " is " + capture.maxPositions().getAsInt()
                    + " tokens");
        }
        return ids;
    }
}
