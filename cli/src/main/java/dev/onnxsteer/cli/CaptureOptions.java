package dev.onnxsteer.cli;

import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.capture.Padding;
import dev.onnxsteer.capture.Position;
import dev.onnxsteer.extract.ExtractionProgress;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options extract and sweep share: where activations are read and how prompts are run. */
final class CaptureOptions {
    @Mixin
    DeviceOptions devices;

    @Option(names = "--site", paramLabel = "SITE", defaultValue = "resid_post",
            description = "resid_post (default), resid_pre, attn_in, attn_out, resid_mid, mlp_in or mlp_out.")
    String site;

    @Option(names = "--position", paramLabel = "POS", defaultValue = "last",
            description = "Tokens read from each prompt: last (default), mean (over the prompt) or all.")
    String position;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "16",
            description = "Prompts per forward pass (default ${DEFAULT-VALUE}); padding never changes a vector.")
    int batch;

    @Option(names = "--padding", paramLabel = "SIDE", defaultValue = "right",
            description = "Pad shorter prompts on the right (default) or left.")
    String padding;

    @Option(names = "--quiet", description = "No progress bar.")
    boolean quiet;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json (default: the one in the model directory).")
    Path tokenizer;

    /** The model's files, its IR (read once) and its sites. */
    record Loaded(ModelFiles files, Model model, SiteMap sites) {}

    Loaded load(Path modelArgument) {
        ModelFiles files = PromptFiles.requireTokenizer(ModelFiles.locate(modelArgument, tokenizer));
        Model model = ModelReader.read(files.onnx());
        return new Loaded(files, model, SiteFinder.find(model));
    }

    SiteKind siteKind() {
        return SiteKind.parse(site);
    }

    Position position() {
        return Position.parse(position);
    }

    void check() {
        siteKind();
        position();
        Padding.parse(padding);
        if (batch < 1) {
            throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
        }
    }

    ActivationCapture open(Loaded loaded, SortedSet<Integer> layers, PrintWriter err) {
        SessionConfig config = devices.sessionConfig(err);
        return ActivationCapture.open(loaded.model(), loaded.files().onnx().toString(),
                ModelConfig.load(loaded.files().directory()), siteKind(), layers, Padding.parse(padding), config);
    }

    /** A progress bar on stderr for {@code total} pairs, or nothing with --quiet or when stderr is not a terminal. */
    Progress progress(String task, int total) {
        if (quiet || System.console() == null || total < 2) {
            return new Progress(null);
        }
        ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).setUnit(" pairs", 1)
                .showSpeed().setUpdateIntervalMillis(250).continuousUpdate()
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
        return new Progress(bar);
    }

    /** Adapts a progress bar (or none) to the extractor's listener; closing it finishes the bar. */
    static final class Progress implements ExtractionProgress, AutoCloseable {
        private final ProgressBar bar;

        Progress(ProgressBar bar) {
            this.bar = bar;
        }

        @Override
        public void pairsDone(int done, int total) {
            if (bar != null) {
                bar.stepTo(done);
            }
        }

        @Override
        public void close() {
            if (bar != null) {
                bar.close();
            }
        }
    }

    /** Formats layer numbers as ranges, e.g. {@code 1-4,6}. */
    static String describe(Set<Integer> layers) {
        StringBuilder out = new StringBuilder();
        int start = -1;
        int previous = -1;
        for (int layer : new TreeSet<>(layers)) {
            if (start >= 0 && layer == previous + 1) {
                previous = layer;
                continue;
            }
            append(out, start, previous);
            start = layer;
            previous = layer;
        }
        append(out, start, previous);
        return out.toString();
    }

    private static void append(StringBuilder out, int start, int end) {
        if (start < 0) {
            return;
        }
        if (out.length() > 0) {
            out.append(',');
        }
        out.append(start == end ? Integer.toString(start) : start + "-" + end);
    }
}
