package dev.onnxsteer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.extract.ContrastiveDataset;
import dev.onnxsteer.extract.ExtractionOptions;
import dev.onnxsteer.extract.Extractor;
import dev.onnxsteer.extract.Method;
import dev.onnxsteer.extract.Sweep;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.AtomicFiles;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SortedSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code onnx-steer sweep MODEL --dataset FILE.jsonl}: how well each layer's vector separates held-out pairs. */
@Command(name = "sweep", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = {"For every layer, extract a vector from part of a contrastive dataset and measure how well it "
                + "separates the held-out pairs: the accuracy of the sign of the projection (0.5 is chance) and the gap "
                + "between the classes in units of their spread.",
                "Prints a table (or --json) and optionally writes a PNG chart, to choose the layer to steer."})
final class SweepCommand implements Callable<Integer> {
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

    @Option(names = "--dataset", paramLabel = "FILE.jsonl", required = true,
            description = "Contrastive pairs, one JSON object per line.")
    Path dataset;

    @Option(names = "--layers", paramLabel = "2|1-4|all", defaultValue = "all", description = "Layers to measure (default all).")
    String layers;

    @Option(names = "--method", paramLabel = "M",
            description = "mean (the default), pca or pca-center; with --condition pca-global (the default) or those.")
    String method;

    @Option(names = "--holdout", paramLabel = "F", defaultValue = "0.2",
            description = "Fraction of pairs held out for scoring (default ${DEFAULT-VALUE}).")
    double holdout;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "Seed of the train/held-out split (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--plot", paramLabel = "FILE.png", description = "Write a chart of both measures per layer.")
    Path plot;

    @Option(names = "--json", description = "Print the result as JSON.")
    boolean json;

    @Option(names = "--condition",
            description = {"Sweep a CAST condition instead: extract condition vectors from the training pairs, score "
                    + "the held-out prompts as compile --condition does, and report precision, recall and F1 (positives "
                    + "should fire, negatives not) for every layer, comparator and threshold; the best is picked.",
                    "With -o the training pairs' condition vector is written with the best choice in its metadata, "
                            + "which compile --condition reads."})
    boolean condition;

    @Option(names = "--condition-aggregate", paramLabel = "last|mean|both", defaultValue = "both",
            description = "With --condition: the prompt's last token, the mean over its tokens, or both (default).")
    String aggregate;

    @Option(names = "--threshold-step", paramLabel = "S", defaultValue = "0.005",
            description = "With --condition: thresholds tried every S across the held-out similarities (default ${DEFAULT-VALUE}).")
    double thresholdStep;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE",
            description = "With --condition: write the condition vector (.safetensors or .gguf) with the best choice.")
    Path output;

    @Override
    public Integer call() throws IOException {
        if (condition) {
            return new ConditionSweepRun(this).call();
        }
        if (output != null) {
            throw new IllegalArgumentException("-o writes a condition vector: it goes with --condition");
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ContrastiveDataset data = ContrastiveDataset.read(dataset);
        Method chosen = method == null ? Method.MEAN : Method.parse(method);
        capture.check();
        Sweep.heldOutIndices(data.size(), holdout, seed); // refuses a bad --holdout or too few pairs up front
        checkPlot();
        CaptureOptions.Loaded loaded = capture.load(model);
        SortedSet<Integer> selected = LayerSelection.parse(layers, loaded.sites().layerCount());
        ExtractionOptions options = new ExtractionOptions(chosen, capture.position(), false, capture.batch);

        Sweep.Result result;
        try (Tokenizer tokenizer = Tokenizer.load(loaded.files().tokenizer(), ModelConfig.load(loaded.files().directory()));
                ActivationCapture session = capture.open(loaded, selected, err);
                CaptureOptions.Progress progress = capture.progress("sweep", data.size())) {
            result = Sweep.run(new Extractor(session, tokenizer), data, options, holdout, seed, progress);
        }
        String title = "sweep " + chosen.label() + " at " + capture.site + ", " + result.train() + " train / "
                + result.heldOut() + " held-out pairs of " + dataset.getFileName();
        if (plot != null) {
            SweepChart.write(result, title, plot);
        }
        if (json) {
            printJson(out, result);
        } else {
            out.println(title);
            out.printf("%-6s %9s %8s %10s %10s  %s%n", "LAYER", "ACCURACY", "GAP", "VEC-NORM", "ACT-NORM", "");
            double maxGap = result.layers().stream().mapToDouble(s -> finite(s.gap())).max().orElse(1);
            for (Sweep.LayerSeparation s : result.layers()) {
                int bar = maxGap > 0 ? (int) Math.round(20 * Math.max(0, finite(s.gap())) / maxGap) : 0;
                out.printf(Locale.ROOT, "%-6d %9.3f %8.2f %10.4f %10.4f  %s%n", s.layer(), s.accuracy(), s.gap(),
                        s.vectorNorm(), s.activationNorm(), "#".repeat(bar));
            }
            Sweep.LayerSeparation best = result.best();
            out.printf(Locale.ROOT, "best: layer %d (gap %.2f, accuracy %.3f)%n", best.layer(), best.gap(), best.accuracy());
            if (plot != null) {
                out.println("wrote " + plot);
            }
        }
        out.flush();
        return Main.OK;
    }

    /** Refuses a --plot that is not a .png or would overwrite a file without --force, before anything runs. */
    void checkPlot() {
        if (plot != null) {
            if (!plot.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".png")) {
                throw new IllegalArgumentException("--plot " + plot + ": expected a .png file name");
            }
            AtomicFiles.checkFileTarget(force.target(plot, model, dataset, capture.tokenizer));
        }
    }

    private static double finite(double value) {
        return Double.isFinite(value) ? value : 0;
    }

    private void printJson(PrintWriter out, Sweep.Result result) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("method", result.method().label());
        root.put("site", capture.site);
        root.put("position", capture.position);
        root.put("train_pairs", result.train());
        root.put("held_out_pairs", result.heldOut());
        root.put("best_layer", result.best().layer());
        ArrayNode layers = root.putArray("layers");
        for (Sweep.LayerSeparation s : result.layers()) {
            ObjectNode node = layers.addObject();
            node.put("layer", s.layer());
            node.put("accuracy", s.accuracy());
            if (Double.isFinite(s.gap())) {
                node.put("gap", s.gap());
            } else {
                node.putNull("gap");
            }
            node.put("positive_mean", s.positiveMean());
            node.put("negative_mean", s.negativeMean());
            node.put("vector_norm", s.vectorNorm());
            node.put("activation_norm", s.activationNorm());
        }
        if (plot != null) {
            root.put("plot", plot.toString());
        }
        out.println(mapper.writeValueAsString(root));
    }
}
