package dev.onnxsteer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.capture.Position;
import dev.onnxsteer.extract.ConditionSweep;
import dev.onnxsteer.extract.ContrastiveDataset;
import dev.onnxsteer.extract.ExtractionOptions;
import dev.onnxsteer.extract.Extractor;
import dev.onnxsteer.extract.Method;
import dev.onnxsteer.extract.Sweep;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.vectors.ConditionMetadata;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SortedSet;

/** {@code sweep --condition}: the condition's layer, threshold, comparator and aggregate, chosen by held-out F1. */
final class ConditionSweepRun {
    private final SweepCommand command;

    ConditionSweepRun(SweepCommand command) {
        this.command = command;
    }

    Integer call() throws IOException {
        PrintWriter out = command.spec.commandLine().getOut();
        PrintWriter err = command.spec.commandLine().getErr();
        CaptureOptions capture = command.capture;
        // everything that can be refused is refused before the model is run
        ContrastiveDataset data = ContrastiveDataset.read(command.dataset);
        Method method = command.method == null ? Method.PCA_GLOBAL : Method.parse(command.method);
        if (method == Method.DIFF) {
            throw new IllegalArgumentException("--method diff takes one pair; a condition sweep trains on many: use "
                    + "pca-global, mean, pca or pca-center");
        }
        if (capture.position() != Position.LAST) {
            throw new IllegalArgumentException("--condition reads one hidden state per prompt, chosen by "
                    + "--condition-aggregate last|mean|both; --position " + capture.position + " does not apply");
        }
        List<Position> aggregates = aggregates(command.aggregate);
        capture.check();
        Sweep.heldOutIndices(data.size(), command.holdout, command.seed);
        if (!(command.thresholdStep > 0 && command.thresholdStep < 1)) {
            throw new IllegalArgumentException("--threshold-step must be between 0 and 1 (exclusive), got "
                    + command.thresholdStep);
        }
        command.checkPlot();
        VectorFiles.Format format = null;
        if (command.output != null) {
            format = VectorFiles.outputFormatOf(command.output);
            AtomicFiles.checkFileTarget(command.force.target(command.output, command.model, command.dataset,
                    capture.tokenizer));
        }
        CaptureOptions.Loaded loaded = capture.load(command.model);
        SortedSet<Integer> selected = LayerSelection.parse(command.layers, loaded.sites().layerCount());
        if (format == VectorFiles.Format.GGUF && selected.contains(0)) {
            throw new IllegalArgumentException("--layers " + command.layers + " includes layer 0, which a .gguf control "
                    + "vector cannot hold; choose layers 1-" + (loaded.sites().layerCount() - 1) + " or write .safetensors");
        }
        String hash = Provenance.sha256(loaded.files().onnx());

        List<ConditionSweepChart.Panel> panels = new ArrayList<>();
        try (Tokenizer tokenizer = Tokenizer.load(loaded.files().tokenizer(), ModelConfig.load(loaded.files().directory()));
                ActivationCapture session = capture.open(loaded, selected, err)) {
            Extractor extractor = new Extractor(session, tokenizer);
            for (Position position : aggregates) {
                ExtractionOptions options = new ExtractionOptions(method, position, false, capture.batch);
                try (CaptureOptions.Progress progress = capture.progress("sweep " + position.label(), data.size())) {
                    panels.add(new ConditionSweepChart.Panel(position.label(), ConditionSweep.run(extractor, data, options,
                            hash, command.holdout, command.seed, command.thresholdStep, progress)));
                }
            }
        }
        ConditionSweepChart.Panel bestPanel = panels.get(0);
        for (ConditionSweepChart.Panel p : panels) {
            bestPanel = ConditionSweep.better(p.result().best(), bestPanel.result().best()) ? p : bestPanel;
        }
        ConditionSweep.Result first = bestPanel.result();
        String title = "condition sweep " + method.label() + " at " + capture.site + ", " + first.train() + " train / "
                + first.heldOut() + " held-out pairs of " + command.dataset.getFileName();
        if (command.plot != null) {
            ConditionSweepChart.write(panels, bestPanel, title, command.plot);
        }
        if (command.output != null) {
            VectorFiles.write(withChoice(bestPanel), command.output);
        }
        if (command.json) {
            printJson(out, method, panels, bestPanel);
        } else {
            printTable(out, title, panels, bestPanel);
        }
        out.flush();
        return Main.OK;
    }

    private static List<Position> aggregates(String text) {
        return switch (text) {
            case "last" -> List.of(Position.LAST);
            case "mean" -> List.of(Position.MEAN);
            case "both" -> List.of(Position.LAST, Position.MEAN);
            default -> throw new IllegalArgumentException("--condition-aggregate " + text + " is not last, mean or both");
        };
    }

    /** The training pairs' vectors, each layer's best setting, and the best of all as the file's chosen one. */
    private static SteeringVectors withChoice(ConditionSweepChart.Panel best) {
        ConditionSweep.Result result = best.result();
        SteeringVectors vectors = result.vectors().vectors();
        VectorMetadata metadata = vectors.metadata();
        for (ConditionSweep.LayerResult layer : result.layers()) {
            ConditionSweep.Cell cell = layer.best().cell();
            metadata = ConditionMetadata.withLayer(metadata, layer.layer(), cell.threshold(), cell.comparator())
                    .withExtra("condition.f1." + layer.layer(), ConditionMetadata.number(cell.f1()));
        }
        ConditionSweep.Cell chosen = result.best().cell();
        metadata = ConditionMetadata.withChoice(metadata, chosen.layer(), chosen.threshold(), chosen.comparator(),
                best.aggregate(), "sweep").withExtra("condition.f1", ConditionMetadata.number(chosen.f1()))
                .withExtra("condition.held_out_pairs", Integer.toString(result.heldOut()));
        return SteeringVectors.of(vectors.layers(), metadata);
    }

    private void printTable(PrintWriter out, String title, List<ConditionSweepChart.Panel> panels,
            ConditionSweepChart.Panel bestPanel) {
        out.println(title + " (" + 2 * bestPanel.result().heldOut() + " held-out prompts), thresholds every "
                + command.thresholdStep);
        out.printf("%-9s %-5s %-5s %9s %9s %6s %6s %7s%n", "AGGREGATE", "LAYER", "FIRES", "THRESHOLD", "PRECISION",
                "RECALL", "F1", "MARGIN");
        for (ConditionSweepChart.Panel panel : panels) {
            for (ConditionSweep.LayerResult layer : panel.result().layers()) {
                for (ConditionSweep.Choice choice : List.of(layer.above(), layer.below())) {
                    ConditionSweep.Cell c = choice.cell();
                    out.printf(Locale.ROOT, "%-9s %-5d %-5s %9s %9.3f %6.3f %6.3f %7.4f%n", panel.aggregate(), c.layer(),
                            c.comparator(), ConditionMetadata.number(c.threshold()), c.precision(), c.recall(), c.f1(),
                            choice.margin());
                }
            }
        }
        ConditionSweep.Cell best = bestPanel.result().best().cell();
        out.printf(Locale.ROOT, "best: layer %d, fires %s %s, aggregate %s (held-out F1 %.3f, precision %.3f, recall %.3f)%n",
                best.layer(), best.comparator(), ConditionMetadata.number(best.threshold()), bestPanel.aggregate(),
                best.f1(), best.precision(), best.recall());
        if (command.output != null) {
            out.println("wrote " + command.output + " (" + bestPanel.result().vectors().vectors().metadata().method()
                    + " from the " + bestPanel.result().train() + " training pairs, position " + bestPanel.aggregate()
                    + "; the best choice in its metadata)");
        }
        if (command.plot != null) {
            out.println("wrote " + command.plot);
        }
    }

    private void printJson(PrintWriter out, Method method, List<ConditionSweepChart.Panel> panels,
            ConditionSweepChart.Panel bestPanel) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("method", method.label());
        root.put("site", command.capture.site);
        root.put("train_pairs", bestPanel.result().train());
        root.put("held_out_pairs", bestPanel.result().heldOut());
        root.put("threshold_step", command.thresholdStep);
        ObjectNode best = cell(root.putObject("best"), bestPanel.aggregate(), bestPanel.result().best());
        best.remove("margin");
        ArrayNode cells = root.putArray("cells");
        for (ConditionSweepChart.Panel panel : panels) {
            for (ConditionSweep.LayerResult layer : panel.result().layers()) {
                cell(cells.addObject(), panel.aggregate(), layer.above());
                cell(cells.addObject(), panel.aggregate(), layer.below());
            }
        }
        if (command.output != null) {
            root.put("output", command.output.toString());
        }
        if (command.plot != null) {
            root.put("plot", command.plot.toString());
        }
        out.println(mapper.writeValueAsString(root));
    }

    private static ObjectNode cell(ObjectNode node, String aggregate, ConditionSweep.Choice choice) {
        ConditionSweep.Cell c = choice.cell();
        node.put("aggregate", aggregate);
        node.put("layer", c.layer());
        node.put("comparator", c.comparator());
        node.put("threshold", c.threshold());
        node.put("precision", c.precision());
        node.put("recall", c.recall());
        node.put("f1", c.f1());
        node.put("true_positives", c.truePositives());
        node.put("false_positives", c.falsePositives());
        node.put("false_negatives", c.falseNegatives());
        node.put("true_negatives", c.trueNegatives());
        node.put("margin", choice.margin());
        return node;
    }
}
