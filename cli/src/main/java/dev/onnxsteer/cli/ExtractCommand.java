package dev.onnxsteer.cli;

import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.capture.Position;
import dev.onnxsteer.extract.ConditionCalibration;
import dev.onnxsteer.extract.ExtractionProgress;
import dev.onnxsteer.extract.ContrastiveDataset;
import dev.onnxsteer.extract.ContrastivePair;
import dev.onnxsteer.extract.Extraction;
import dev.onnxsteer.extract.ExtractionOptions;
import dev.onnxsteer.extract.Extractor;
import dev.onnxsteer.extract.Method;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.vectors.ConditionMetadata;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SortedSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code onnx-steer extract MODEL --positive A --negative B -o FILE}: steering vectors from contrastive prompts. */
@Command(name = "extract", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = {"Extract steering vectors from contrastive prompts: one pair (--positive/--negative) or a "
                + "JSON Lines dataset of {\"positive\", \"negative\", optional \"prompt\"} objects.",
                "Writes one vector per layer to a .gguf control vector or .safetensors file, with the model hash, "
                        + "site, method, position, pair count and per-layer norms in its metadata."})
final class ExtractCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Mixin
    CaptureOptions capture;

    @Mixin
    ForceOption force;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "Model directory or .onnx file.")
    Path model;

    @Option(names = "--positive", paramLabel = "TEXT", description = "The prompt on the side to steer towards.")
    String positive;

    @Option(names = "--negative", paramLabel = "TEXT", description = "The prompt on the side to steer away from.")
    String negative;

    @Option(names = "--dataset", paramLabel = "FILE.jsonl", description = "Contrastive pairs, one JSON object per line.")
    Path dataset;

    @Option(names = "--layers", paramLabel = "2|1-4|all",
            description = "Layers to extract (default: all; for .gguf all but 0, which llama.cpp cannot load).")
    String layers;

    @Option(names = "--method", paramLabel = "M",
            description = "diff (one pair, the default for --positive/--negative), mean (the default for --dataset), "
                    + "pca, pca-center or pca-global (--condition's).")
    String method;

    @Option(names = "--normalize", description = "Scale every vector to unit length.")
    boolean normalize;

    @Option(names = "--condition",
            description = "Extract a CAST condition vector for compile --condition: pca-global (PCA of every prompt's "
                    + "activations centred on their mean, as the CAST paper does), scored on every prompt; prints the "
                    + "separating threshold and comparator per layer and records them in the file's metadata.")
    boolean condition;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true,
            description = "Output vector file: .gguf (llama.cpp control vector) or .safetensors.")
    Path output;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        // everything that can be refused is refused before the model is run
        ContrastiveDataset data = dataset();
        Method chosen = chosenMethod();
        if (condition && capture.position() == Position.ALL) {
            throw new IllegalArgumentException("--condition reads one hidden state per prompt, as compile --condition "
                    + "does: use --position last or mean (--condition-aggregate last or mean), not all");
        }
        capture.check();
        VectorFiles.Format format = VectorFiles.outputFormatOf(output);
        AtomicFiles.checkFileTarget(force.target(output, model, dataset, capture.tokenizer));
        CaptureOptions.Loaded loaded = capture.load(model);
        SortedSet<Integer> selected = layers(loaded.sites().layerCount(), format, err);
        ExtractionOptions options = new ExtractionOptions(chosen, capture.position(), normalize, capture.batch);
        String hash = Provenance.sha256(loaded.files().onnx());

        Extraction extraction;
        Map<Integer, ConditionCalibration.Separation> separations = Map.of();
        try (Tokenizer tokenizer = Tokenizer.load(loaded.files().tokenizer(), ModelConfig.load(loaded.files().directory()));
                ActivationCapture session = capture.open(loaded, selected, err);
                CaptureOptions.Progress progress = capture.progress("extract", data.size())) {
            if (common.verbose) {
                err.println("capturing " + capture.site + " at layers " + selected + " of " + session.source() + " on "
                        + session.session().device());
            }
            Extractor extractor = new Extractor(session, tokenizer);
            extraction = extractor.extract(data, options, hash, progress);
            if (condition) {
                separations = ConditionCalibration.measure(extractor, data, options, extraction.vectors().layers(),
                        ExtractionProgress.NONE);
            }
        }
        SteeringVectors vectors = condition ? withCalibration(extraction.vectors(), separations) : extraction.vectors();
        VectorFiles.write(vectors, output);

        out.printf("%-6s %10s %10s %10s%n", "LAYER", "RAW-NORM", "ACT-NORM", "ACT/RAW");
        for (int layer : selected) {
            Extraction.LayerStats stats = extraction.layers().get(layer);
            double ratio = stats.rawNorm() > 0 ? stats.activationNorm() / stats.rawNorm() : Double.NaN;
            out.printf(Locale.ROOT, "%-6d %10.4f %10.4f %10.2f%n", layer, stats.rawNorm(), stats.activationNorm(), ratio);
        }
        out.println("wrote " + output + " (" + chosen.label() + ", " + capture.site + (selected.size() == 1 ? " layer " : " layers ")
                + CaptureOptions.describe(selected) + ", position " + options.position().label() + ", "
                + extraction.pairs() + (extraction.pairs() == 1 ? " pair" : " pairs")
                + (normalize ? ", unit length" : "") + ")");
        if (condition) {
            printSeparations(out, separations);
        }
        out.flush();
        return Main.OK;
    }

    private Method chosenMethod() {
        if (condition) {
            if (dataset == null) {
                throw new IllegalArgumentException("--condition needs a --dataset of positive and negative prompts");
            }
            return method != null ? Method.parse(method) : Method.PCA_GLOBAL;
        }
        return method != null ? Method.parse(method) : dataset != null ? Method.MEAN : Method.DIFF;
    }

    /**
     * Records each layer's threshold, comparator and gap, so the file says how it separates its own prompts,
     * and the widest gap's layer as the file's chosen setting, which {@code compile --condition} reads.
     */
    private SteeringVectors withCalibration(SteeringVectors vectors, Map<Integer, ConditionCalibration.Separation> seps) {
        VectorMetadata metadata = vectors.metadata();
        for (ConditionCalibration.Separation s : seps.values()) {
            metadata = ConditionMetadata.withLayer(metadata, s.layer(), s.threshold(), s.comparator())
                    .withExtra("condition.gap." + s.layer(), number(s.gap()));
        }
        ConditionCalibration.Separation best = widestGap(seps);
        metadata = ConditionMetadata.withChoice(metadata, best.layer(), Double.parseDouble(number(best.threshold())),
                best.comparator(), aggregate(), "extract");
        return SteeringVectors.of(vectors.layers(), metadata);
    }

    private static ConditionCalibration.Separation widestGap(Map<Integer, ConditionCalibration.Separation> seps) {
        ConditionCalibration.Separation best = null;
        for (ConditionCalibration.Separation s : seps.values()) {
            best = best == null || s.gap() > best.gap() ? s : best;
        }
        return best;
    }

    private String aggregate() {
        return capture.position() == Position.MEAN ? "mean" : "last";
    }

    private void printSeparations(PrintWriter out, Map<Integer, ConditionCalibration.Separation> seps) {
        out.println();
        out.printf("%-6s %-16s %-16s %8s  %s%n", "LAYER", "POSITIVE", "NEGATIVE", "GAP", "FIRES");
        for (ConditionCalibration.Separation s : seps.values()) {
            out.printf(Locale.ROOT, "%-6d %-16s %-16s %8.4f  %s %s%n", s.layer(), range(s.positiveMin(), s.positiveMax()),
                    range(s.negativeMin(), s.negativeMax()), s.gap(), s.comparator(), number(s.threshold()));
        }
        ConditionCalibration.Separation best = widestGap(seps);
        String aggregate = aggregate();
        if (best.gap() <= 0) {
            out.println("no layer separates the two sides: every threshold misfires on some prompt of the dataset");
        }
        out.println("compile with: --condition " + output + ":" + number(best.threshold()) + " --condition-layers "
                + best.layer() + " --condition-comparator " + best.comparator() + " --condition-aggregate " + aggregate);
    }

    private static String range(double min, double max) {
        return String.format(Locale.ROOT, "%.4f..%.4f", min, max);
    }

    private static String number(double value) {
        return ConditionMetadata.number(value);
    }

    private ContrastiveDataset dataset() {
        boolean pair = positive != null || negative != null;
        if (pair && dataset != null) {
            throw new IllegalArgumentException("give either --positive and --negative, or --dataset, not both");
        }
        if (dataset != null) {
            return ContrastiveDataset.read(dataset);
        }
        if (positive == null || negative == null) {
            throw new IllegalArgumentException(pair ? "--positive and --negative go together; " + (positive == null
                    ? "--positive" : "--negative") + " is missing" : "nothing to extract from: pass --positive TEXT "
                    + "--negative TEXT, or --dataset FILE.jsonl");
        }
        return ContrastiveDataset.of(List.of(new ContrastivePair(positive, negative, "command line")));
    }

    private SortedSet<Integer> layers(int layerCount, VectorFiles.Format format, PrintWriter err) {
        boolean gguf = format == VectorFiles.Format.GGUF;
        if (layers == null) {
            SortedSet<Integer> all = LayerSelection.parse("all", layerCount);
            if (gguf && layerCount > 1) {
                all.remove(0);
                err.println("note: layer 0 left out: a .gguf control vector cannot hold it (llama.cpp rejects direction.0); "
                        + "write .safetensors to include it");
                err.flush();
            }
            return all;
        }
        SortedSet<Integer> chosen = LayerSelection.parse(layers, layerCount);
        if (gguf && chosen.contains(0)) {
            throw new IllegalArgumentException("--layers " + layers + " includes layer 0, which a .gguf control vector "
                    + "cannot hold (llama.cpp rejects direction.0 and cannot steer block 0); choose layers 1-"
                    + (layerCount - 1) + " or write .safetensors");
        }
        return chosen;
    }
}
