package dev.onnxsteer.cli;

import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.sites.ModelSummary;
import dev.onnxsteer.sites.ModelSummary.Port;
import dev.onnxsteer.sites.ModelSummary.SiteInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/** The text {@code inspect} prints: a {@link ModelSummary} as labelled rows and aligned columns. */
final class InspectTable {
    private InspectTable() {}

    /** The human-readable form {@code inspect} prints for {@code summary}. */
    static String render(ModelSummary summary) {
        String file = summary.file();
        long irVersion = summary.irVersion();
        Map<String, Long> opsets = summary.opsets();
        String producer = summary.producer();
        List<Port> inputs = summary.inputs();
        List<Port> outputs = summary.outputs();
        ModelSummary.Weights weights = summary.weights();
        Map<String, Integer> ops = summary.ops();
        int nodes = summary.nodes();
        String layout = summary.layout();
        int layers = summary.layers();
        long hiddenSize = summary.hiddenSize();
        List<SiteInfo> sites = summary.sites();
        List<String> notes = summary.notes();
        Map<String, String> steering = summary.steering();
        StringBuilder out = new StringBuilder();
        row(out, "model", file);
        row(out, "format", "IR " + irVersion + ", opsets " + opsets.entrySet().stream()
                .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", ")));
        row(out, "producer", producer.isEmpty() ? "-" : producer);
        ports(out, "inputs", inputs);
        ports(out, "outputs", outputs);
        String ext = weights.externalCount() == 0 ? "none external"
                : bytes(weights.externalBytes()) + " external (" + weights.externalCount() + " tensors in "
                        + weights.externalFiles() + " file" + (weights.externalFiles() == 1 ? "" : "s") + ")";
        row(out, "weights", weights.count() + " initializers: " + bytes(weights.inlineBytes()) + " inline, " + ext);
        List<String> opList = ops.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).toList();
        for (int i = 0; i < Math.max(1, opList.size()); i += 6) {
            String chunk = String.join(", ", opList.subList(i, Math.min(opList.size(), i + 6)));
            row(out, i == 0 ? "ops" : "", i == 0 ? nodes + " nodes: " + chunk : chunk);
        }
        row(out, "layout", layout);
        row(out, "layers", layers + ", hidden size " + hiddenSize);
        if (!sites.isEmpty()) {
            boolean graphs = sites.stream().map(SiteInfo::graph).distinct().count() > 1;
            List<String[]> rows = new ArrayList<>();
            rows.add(graphs ? new String[] {"SITE", "GRAPH", "TENSOR", "HIDDEN", "BIAS-FOLDABLE", "ALIASES"}
                    : new String[] {"SITE", "TENSOR", "HIDDEN", "BIAS-FOLDABLE", "ALIASES"});
            for (SiteInfo s : sites) {
                String bias = s.biasFoldable() ? "yes (" + s.bias() + ")" : "no";
                String names = String.join(", ", s.aliases());
                rows.add(graphs ? new String[] {s.name(), s.graph(), s.tensor(), Long.toString(s.hiddenSize()), bias, names}
                        : new String[] {s.name(), s.tensor(), Long.toString(s.hiddenSize()), bias, names});
            }
            out.append(System.lineSeparator());
            columns(out, rows);
        }
        if (!notes.isEmpty()) {
            out.append(System.lineSeparator()).append("notes").append(System.lineSeparator());
            notes.forEach(n -> out.append("  - ").append(n).append(System.lineSeparator()));
        }
        List<Provenance.Operation> operations = Provenance.operations(steering.get(CompiledModelAbi.OPERATIONS), file);
        if (!operations.isEmpty()) {
            out.append(System.lineSeparator()).append("steering operations").append(System.lineSeparator());
            List<String[]> rows = new ArrayList<>();
            for (Provenance.Operation op : operations) {
                boolean rewritesWeights = op.op().equals("orthogonalize");
                rows.add(new String[] {"  " + op.op(), op.site(), "mode " + op.mode(),
                        rewritesWeights ? op.tensors().size() + " weights rewritten" : "positions " + op.positions(),
                        rewritesWeights ? "" : (op.op().equals("ablate") ? "" : (op.op().equals("clamp") ? "value " : "coeff ")
                                + op.coefficient()),
                        (op.preserveNorm() ? "preserve-norm " : "") + (op.bank() ? "bank" : "")});
            }
            columns(out, rows);
        }
        if (!steering.isEmpty()) {
            out.append(System.lineSeparator()).append("steering metadata").append(System.lineSeparator());
            List<String[]> rows = new ArrayList<>();
            steering.forEach((k, v) -> rows.add(new String[] {"  " + k, v}));
            columns(out, rows);
        }
        return out.toString();
    }

    private static void row(StringBuilder out, String label, String text) {
        out.append(String.format(Locale.ROOT, "%-10s %s", label, text).stripTrailing()).append(System.lineSeparator());
    }

    private static void ports(StringBuilder out, String label, List<Port> ports) {
        if (ports.isEmpty()) {
            row(out, label, "-");
            return;
        }
        int nameWidth = ports.stream().mapToInt(p -> p.name().length()).max().orElse(0);
        int typeWidth = ports.stream().mapToInt(p -> p.dtype().length()).max().orElse(0);
        for (int i = 0; i < ports.size(); i++) {
            Port p = ports.get(i);
            row(out, i == 0 ? label : "", String.format(Locale.ROOT, "%-" + nameWidth + "s  %-" + typeWidth + "s  %s",
                    p.name(), p.dtype(), p.shapeText()));
        }
    }

    private static void columns(StringBuilder out, List<String[]> rows) {
        int[] widths = new int[rows.get(0).length];
        java.util.Arrays.fill(widths, 1);
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                widths[i] = Math.max(widths[i], r[i].length());
            }
        }
        for (String[] r : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < r.length; i++) {
                line.append(i == 0 ? "" : "  ").append(String.format(Locale.ROOT, "%-" + widths[i] + "s", r[i]));
            }
            out.append(line.toString().stripTrailing()).append(System.lineSeparator());
        }
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
