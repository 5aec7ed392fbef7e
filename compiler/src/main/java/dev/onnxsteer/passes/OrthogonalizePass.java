package dev.onnxsteer.passes;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.HalfFloats;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.quant.RequantisationError;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Weight orthogonalisation: rewrites every weight that writes into the residual stream (token and
 * position embedding tables, each attention output projection, each MLP down projection, and their
 * biases) as {@code W - (W r) r^T}, so nothing the model adds to the stream has a component along
 * {@code r}. The result equals ablating {@code r} from every write into the stream; no node is added.
 * Writers are found from the sites: the producers of {@code resid_pre.0} back to the embedding
 * Gathers, and of every {@code attn_out.L} and {@code mlp_out.L} back to a MatMul or Gemm with an
 * initializer weight. When any write is not found the pass refuses, listing what it found.
 * A weight also read by something that is not a writer (a tied lm_head) is copied first.
 */
public final class OrthogonalizePass implements Pass {
    /** How the hidden axis lies in a weight: the last axis ({@code [.., hidden]}), or the first (Gemm transB). */
    enum Layout { ROWS, COLUMNS }

    /** One input slot that writes into the stream: input {@code index} of {@code node} reads {@code tensor}. */
    record Slot(String role, Node node, int index, Value tensor, Layout layout) {}

    /**
     * A rewritten weight: {@code original} in the source model, {@code tensor} in the result (a copy when shared);
     * {@code requantisation} how far a quantised weight's stored values are from the orthogonalised ones (null for
     * a float weight).
     */
    public record Rewritten(String role, String original, String tensor, RequantisationError requantisation) {
        public Rewritten(String role, String original, String tensor) {
            this(role, original, tensor, null);
        }
    }

    private final SiteMap sites;
    private final float[] direction;
    private final List<Rewritten> rewritten = new ArrayList<>();
    private final List<QuantisedOrthogonalize.Writer> quantised = new ArrayList<>();
    private final boolean exact;

    /** @param vector the direction (normalised here); any non-zero vector of the model's hidden size */
    public OrthogonalizePass(SiteMap sites, float[] vector) {
        this(sites, vector, false);
    }

    /** With {@code exact}, a quantised weight whose requantisation is lossy refuses (see {@link QuantisedOrthogonalize}). */
    public OrthogonalizePass(SiteMap sites, float[] vector, boolean exact) {
        this.sites = sites;
        this.direction = vector.clone();
        this.exact = exact;
    }

    public List<Rewritten> rewritten() {
        return List.copyOf(rewritten);
    }

    @Override
    public boolean apply(Model model) {
        double[] r = unit(direction);
        List<Slot> slots = writers();
        Map<Value, List<Slot>> byTensor = new IdentityHashMap<>();
        Map<Value, Boolean> order = new LinkedHashMap<>();
        for (Slot slot : slots) {
            Tensor t = slot.tensor().initializer();
            if (!HalfFloats.isSteerable(t.type())) {
                throw new BadModelException("orthogonalize rewrites float32, float16 and bfloat16 weights; "
                        + slot.role() + " weight " + slot.tensor() + " is " + t);
            }
            byTensor.computeIfAbsent(slot.tensor(), k -> new ArrayList<>()).add(slot);
            order.put(slot.tensor(), true);
        }
        rewritten.clear();
        for (Value tensor : order.keySet()) {
            List<Slot> group = byTensor.get(tensor);
            Tensor result = orthogonalized(tensor.initializer(), group.get(0).layout(), r);
            boolean onlyWriters = !tensor.isGraphInput() && !tensor.isGraphOutput()
                    && tensor.uses().stream().allMatch(u -> group.stream()
                            .anyMatch(s -> s.node() == u.node() && s.index() == u.index()));
            boolean mixedLayouts = group.stream().anyMatch(s -> s.layout() != group.get(0).layout());
            if (mixedLayouts) {
                throw new BadModelException("weight " + tensor + " is read by residual writers in two layouts; "
                        + "orthogonalize cannot rewrite it for both");
            }
            String role = group.get(0).role() + (group.size() > 1 ? " (+" + (group.size() - 1) + " more)" : "");
            if (onlyWriters) {
                tensor.setInitializer(result);
                rewritten.add(new Rewritten(role, tensor.name(), tensor.name()));
            } else {
                Graph owner = tensor.graph();
                Value copy = owner.addInitializer(owner.names().fresh(tensor.name() + ".orthogonalized"), result);
                for (Slot slot : group) {
                    slot.node().setInput(slot.index(), copy);
                }
                rewritten.add(new Rewritten(role, tensor.name(), copy.name()));
            }
        }
        rewritten.addAll(QuantisedOrthogonalize.apply(quantised, r, exact));
        return !rewritten.isEmpty();
    }

    /** Every writer slot; refuses, listing what was found, when any write into the stream is not understood. */
    List<Slot> writers() {
        if (direction.length != sites.hiddenSize()) {
            throw new BadVectorException("vector has " + direction.length + " values but this model has hidden size "
                    + sites.hiddenSize());
        }
        if (SteerPass.norm(direction) == 0 || !allFinite(direction)) {
            throw new BadVectorException("orthogonalize needs a finite, non-zero direction");
        }
        List<Slot> found = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        quantised.clear();
        if (sites.layerCount() == 0) {
            throw new BadModelException("orthogonalize found no transformer layers in this model"
                    + (sites.notes().isEmpty() ? "" : " (" + String.join("; ", sites.notes()) + ")"));
        }
        for (Site site : copies(SiteKind.RESID_PRE, 0, missing)) {
            embeddingWriters(site.value(), found, missing, 0);
        }
        for (int layer = 0; layer < sites.layerCount(); layer++) {
            for (SiteKind kind : List.of(SiteKind.ATTN_OUT, SiteKind.MLP_OUT)) {
                for (Site site : copies(kind, layer, missing)) {
                    sublayerWriters(site, found, missing);
                }
            }
        }
        if (!missing.isEmpty()) {
            List<String> have = found.stream().map(s -> s.role() + " " + s.tensor()).distinct().toList();
            throw new BadModelException("orthogonalize needs every weight that writes into the residual stream, but "
                    + "not all were found. Not found: " + String.join("; ", missing) + ". Found: "
                    + (have.isEmpty() ? "nothing" : String.join(", ", have))
                    + (sites.notes().isEmpty() ? "" : ". Site discovery notes: " + String.join("; ", sites.notes())));
        }
        return found;
    }

    private List<Site> copies(SiteKind kind, int layer, List<String> missing) {
        List<Site> found = sites.sites().stream().filter(s -> s.kind() == kind && s.layer() == layer).toList();
        if (found.isEmpty()) {
            missing.add(kind.label() + "." + layer + " (site discovery did not find it)");
        }
        return found;
    }

    /** Walks back from the embedding output through Add, Cast, Identity and scalar Mul to the table Gathers. */
    private void embeddingWriters(Value v, List<Slot> found, List<String> missing, int depth) {
        long hidden = sites.hiddenSize();
        if (v.isInitializer()) {
            if (v.initializer().elementCount() == hidden) {
                missing.add("embedding bias " + v + " is a graph constant added without a node slot to rewrite");
            } else {
                missing.add("embedding constant " + v + " " + v.initializer());
            }
            return;
        }
        Node p = v.producer();
        if (p == null || depth > 12) {
            missing.add("embedding input " + v + (p == null ? " (a graph input)" : " (too deep)"));
            return;
        }
        if (p.is("Gather") && p.input(0) != null && p.input(0).isInitializer() && p.input(0).initializer().rank() == 2
                && p.input(0).initializer().dim(1) == hidden) {
            found.add(new Slot("embedding", p, 0, p.input(0), Layout.ROWS));
        } else if (p.opType().equals("EmbedLayerNormalization") && p.domain().equals("com.microsoft")
                && v.outputIndex() == 2) {
            for (int i = 2; i <= 4; i++) {
                Value table = i < p.inputCount() ? p.input(i) : null;
                if (table != null && table.isInitializer()) {
                    found.add(new Slot("embedding", p, i, table, Layout.ROWS));
                }
            }
        } else if (p.is("Add") && p.inputCount() == 2) {
            for (int i = 0; i < 2; i++) {
                Value in = p.input(i);
                if (in.isInitializer() && in.initializer().elementCount() == hidden) {
                    found.add(new Slot("embedding bias", p, i, in, Layout.ROWS));
                } else {
                    embeddingWriters(in, found, missing, depth + 1);
                }
            }
        } else if (p.is("Cast") || p.is("Identity")) {
            embeddingWriters(p.input(0), found, missing, depth + 1);
        } else if (p.is("Mul") && p.inputCount() == 2 && scalarConstant(p.input(1))) {
            embeddingWriters(p.input(0), found, missing, depth + 1);
        } else if (p.is("Mul") && p.inputCount() == 2 && scalarConstant(p.input(0))) {
            embeddingWriters(p.input(1), found, missing, depth + 1);
        } else {
            missing.add("embedding output " + v + " is produced by " + p.opType() + " " + p);
        }
    }

    private static boolean scalarConstant(Value v) {
        return v != null && (v.isInitializer() && v.initializer().elementCount() == 1
                || v.producer() != null && v.producer().is("Constant"));
    }

    /** Walks back from an attn_out or mlp_out value through Reshape/Identity and bias Adds to the projection. */
    private void sublayerWriters(Site site, List<Slot> found, List<String> missing) {
        long hidden = sites.hiddenSize();
        String role = site.name();
        if (site.bias() != null && !site.bias().node().domain().isEmpty()) {
            // a fused SkipLayerNormalization adds the sublayer's bias inside the residual join
            found.add(new Slot(role + " bias", site.bias().node(), site.bias().inputIndex(), site.bias().initializer(),
                    Layout.ROWS));
        }
        Value v = site.value();
        for (int depth = 0; depth < 8; depth++) {
            Node p = v.producer();
            if (p == null) {
                missing.add(role + " " + site.value() + " is not computed by a node");
                return;
            }
            if (p.is("Reshape") || p.is("Identity")) {
                v = p.input(0);
                continue;
            }
            if (p.is("Add") && p.inputCount() == 2) {
                int bias = hiddenVector(p.input(0), hidden) ? 0 : hiddenVector(p.input(1), hidden) ? 1 : -1;
                if (bias < 0) {
                    missing.add(role + ": " + p + " adds two computed tensors; expected a projection plus a bias");
                    return;
                }
                found.add(new Slot(role + " bias", p, bias, p.input(bias), Layout.ROWS));
                v = p.input(1 - bias);
                continue;
            }
            if (p.is("MatMul") && weight(p.input(1), 1, hidden)) {
                found.add(new Slot(role + " weight", p, 1, p.input(1), Layout.ROWS));
                return;
            }
            if (p.is("Gemm")) {
                boolean transB = p.intAttribute("transB", 0) != 0;
                if (weight(p.input(1), transB ? 0 : 1, hidden)) {
                    found.add(new Slot(role + " weight", p, 1, p.input(1), transB ? Layout.COLUMNS : Layout.ROWS));
                    if (p.inputCount() > 2 && p.input(2) != null) {
                        if (!hiddenVector(p.input(2), hidden)) {
                            missing.add(role + ": Gemm bias " + p.input(2) + " is not a float[" + hidden + "] initializer");
                            return;
                        }
                        found.add(new Slot(role + " bias", p, 2, p.input(2), Layout.ROWS));
                    }
                    return;
                }
            }
            QuantisedWeight q = QuantisedWeight.producing(v, hidden);
            if (q != null) {
                quantised.add(new QuantisedOrthogonalize.Writer(role + " weight", q));
                return;
            }
            missing.add(role + " " + site.value() + " is produced by " + p.opType() + " " + p
                    + ", not by a MatMul or Gemm with an initializer weight");
            return;
        }
        missing.add(role + ": no projection within 8 nodes of " + site.value());
    }

    private static boolean weight(Value w, int hiddenAxis, long hidden) {
        return w != null && w.isInitializer() && w.initializer().rank() == 2 && w.initializer().dim(hiddenAxis) == hidden;
    }

    private static boolean hiddenVector(Value v, long hidden) {
        return v != null && v.isInitializer() && v.initializer().elementCount() == hidden
                && v.initializer().dim(v.initializer().rank() - 1) == hidden;
    }

    private static boolean allFinite(float[] v) {
        for (float x : v) {
            if (!Float.isFinite(x)) {
                return false;
            }
        }
        return true;
    }

    static double[] unit(float[] v) {
        double n = SteerPass.norm(v);
        double[] r = new double[v.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = v[i] / n;
        }
        return r;
    }

    /** {@code W - (W r) r^T} along the hidden axis, computed from W widened to float32 and rounded once to its type. */
    static Tensor orthogonalized(Tensor weight, Layout layout, double[] r) {
        float[] w = weight.toFloats();
        int h = r.length;
        if (layout == Layout.ROWS) {
            for (int row = 0; row < w.length / h; row++) {
                int base = row * h;
                double dot = 0;
                for (int j = 0; j < h; j++) {
                    dot += w[base + j] * r[j];
                }
                for (int j = 0; j < h; j++) {
                    w[base + j] = (float) (w[base + j] - dot * r[j]);
                }
            }
        } else {
            int cols = w.length / h;
            for (int c = 0; c < cols; c++) {
                double dot = 0;
                for (int i = 0; i < h; i++) {
                    dot += w[i * cols + c] * r[i];
                }
                for (int i = 0; i < h; i++) {
                    w[i * cols + c] = (float) (w[i * cols + c] - dot * r[i]);
                }
            }
        }
        return Tensor.ofFloats(weight.type(), weight.dims(), w);
    }
}
