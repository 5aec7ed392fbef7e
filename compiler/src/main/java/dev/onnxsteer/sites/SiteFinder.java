package dev.onnxsteer.sites;

import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the steering sites of a transformer graph. Structure first: from the token-embedding
 * {@code Gather} (an initializer table gathered with the input ids, plus any position or
 * token-type embedding added to it) it follows the residual stream through its joins, an
 * {@code Add} whose other input is computed from the stream (or an ONNX Runtime
 * {@code SkipLayerNormalization}, whose optional output 3 is the residual sum), two joins per
 * block, the first fed by attention and the second by the MLP, until the final normalisation.
 * Post-norm encoders (BERT) put a LayerNorm after each join; the stream continues from its output.
 * In pre-norm layouts the normalised copy of the stream that each sublayer reads (the LayerNorm or
 * RMSNorm output, or output 0 of a fused SkipLayerNormalization) is the sublayer input site
 * ({@code attn_in}, {@code mlp_in}), listed with the linear projections that read it.
 * Names second: layer indices found in node, value and weight names ({@code /model/layers.3/},
 * {@code transformer.h.3.}) must agree with the structural index, else the layer's sites are left
 * out with a note. Merged decoders are searched in every graph, so each {@code If} branch gets its
 * own sites. Reading only: the model is not changed.
 */
public final class SiteFinder {
    private static final String MS = "com.microsoft";
    private static final Pattern LAYER_NAME =
            Pattern.compile("(?:^|[/.])(?:layers?|h|blocks?|blk)[._](\\d+)(?=[/._]|$)");
    private static final Set<String> NORM_OPS = Set.of("ReduceMean", "ReduceSum", "ReduceSumSquare", "Sub", "Pow",
            "Add", "Sqrt", "Div", "Mul", "Reciprocal", "Cast", "Identity");
    private static final Set<String> ID_PASS_THROUGH = Set.of("Cast", "Reshape", "Unsqueeze", "Squeeze", "Identity",
            "Flatten");

    private final Model model;
    private final List<String> notes = new ArrayList<>();
    private final Map<Graph, Map<Node, Integer>> positions = new IdentityHashMap<>();
    private final Map<Graph, Node> owners = new IdentityHashMap<>();

    private SiteFinder(Model model) {
        this.model = model;
        for (Graph graph : model.graph().allGraphs()) {
            for (Node node : graph.nodes()) {
                for (Graph sub : node.subgraphs()) {
                    owners.put(sub, node);
                }
            }
        }
    }

    /** Discovers the sites of {@code model}; never throws for an unrecognised graph, it says so in the notes. */
    public static SiteMap find(Model model) {
        return new SiteFinder(model).run();
    }

    // ---------------------------------------------------------------------------------------------
    // Results of the structural walk

    /** One residual join: {@code sum = residual + sublayer} (plus a fused bias), {@code normed} for SkipLayerNorm. */
    private record Join(Node node, Value residual, Value sublayer, Value sum, Value normed, BiasSlot fusedBias,
            Set<Node> region) {}

    /**
     * One block as found by structure; {@code mid} and {@code post} are null where the graph has no
     * such tensor, {@code attnIn} and {@code mlpIn} (the normalised sublayer inputs) where no
     * normalisation of the residual feeds the sublayer (post-norm layouts).
     */
    private record Block(int layer, Value pre, Value attnIn, Join attn, Value mid, Value mlpIn, Join mlp, Value post) {}

    /** A walk of one graph (the main graph, or one If branch). */
    private record Chain(Graph graph, String layout, long hidden, List<Block> blocks, boolean postNorm) {}

    // ---------------------------------------------------------------------------------------------

    private SiteMap run() {
        List<Chain> chains = new ArrayList<>();
        for (Graph graph : model.graph().allGraphs()) {
            for (Node start : embeddingStarts(graph)) {
                List<Chain> found = walkFrom(start, graph);
                if (!found.isEmpty()) {
                    chains.addAll(found);
                    break;
                }
            }
        }
        if (chains.isEmpty()) {
            if (notes.isEmpty()) {
                notes.add("no transformer layers found: expected a token embedding (Gather of an initializer table "
                        + "by the input ids) followed by residual Add or SkipLayerNormalization joins");
            }
            return new SiteMap("unrecognised", 0, 0, List.of(), notes);
        }
        List<Site> sites = new ArrayList<>();
        int layers = 0;
        Set<Integer> counts = new LinkedHashSet<>();
        for (Chain chain : chains) {
            sites.addAll(sitesOf(chain));
            counts.add(chain.blocks.size());
            layers = Math.max(layers, chain.blocks.size());
        }
        if (counts.size() > 1) {
            notes.add("the graphs searched have different layer counts " + counts + "; each lists only its own sites");
        }
        String layout = chains.get(0).layout;
        if (chains.size() > 1 || chains.get(0).graph != model.graph()) {
            Node owner = owners.get(chains.get(0).graph);
            boolean cacheBranch = owner != null && owner.is("If") && owner.input(0) != null
                    && owner.input(0).name().contains("use_cache_branch");
            layout = (cacheBranch ? "merged decoder (If on use_cache_branch): "
                    : "layers inside " + chains.size() + " subgraph(s): ") + layout;
        }
        return new SiteMap(layout, layers, chains.get(0).hidden, sites, notes);
    }

    /**
     * Whether {@code node} is an ONNX Runtime skip norm, {@code com.microsoft} SkipLayerNormalization or
     * SkipSimplifiedLayerNormalization: {@code sum = input + skip (+ bias)} as output 3, its norm as output 0.
     */
    public static boolean isSkipNorm(Node node) {
        return node.domain().equals(MS) && (node.opType().equals("SkipLayerNormalization")
                || node.opType().equals("SkipSimplifiedLayerNormalization"));
    }

    /** Token-embedding Gathers and fused EmbedLayerNormalization nodes of {@code graph}, best first. */
    private List<Node> embeddingStarts(Graph graph) {
        List<Node> fused = new ArrayList<>();
        List<Node> gathers = new ArrayList<>();
        for (Node node : graph.nodes()) {
            if (node.opType().equals("EmbedLayerNormalization") && node.domain().equals(MS)) {
                fused.add(node);
            } else if (tokenIds(node) != null) {
                gathers.add(node);
            }
        }
        gathers.sort(Comparator.comparing((Node n) -> !tokenIds(n).name().contains("input_ids"))
                .thenComparing(n -> -n.input(0).initializer().dim(0)));
        List<Node> all = new ArrayList<>(fused);
        all.addAll(gathers);
        return all;
    }

    /** The integer graph input a Gather of a 2-D float initializer reads its indices from, else null. */
    private static Value tokenIds(Node node) {
        if (!node.is("Gather") || node.inputCount() != 2 || node.intAttribute("axis", 0) != 0) {
            return null;
        }
        Value table = node.input(0);
        if (table == null || !table.isInitializer() || table.initializer().rank() != 2
                || !Projections.FLOATS.contains(table.initializer().type())) {
            return null;
        }
        Value ids = node.input(1);
        for (int i = 0; i < 8 && ids != null && ids.producer() != null; i++) {
            Node p = ids.producer();
            if (!ID_PASS_THROUGH.contains(p.opType()) || !p.domain().isEmpty()) {
                return null;
            }
            ids = p.input(0);
        }
        if (ids == null || !ids.isGraphInput() || ids.isInitializer()) {
            return null;
        }
        var type = ids.tensorType();
        return type == null || type.elementType() == DataType.INT64 || type.elementType() == DataType.INT32 ? ids : null;
    }

    /** Walks the residual stream from an embedding node; forks into child graphs when the stream goes there. */
    private List<Chain> walkFrom(Node start, Graph scope) {
        long hidden;
        Value stream;
        boolean fused = start.opType().equals("EmbedLayerNormalization");
        if (fused) {
            Value words = start.input(2);
            hidden = words != null && words.isInitializer() && words.initializer().rank() == 2
                    ? words.initializer().dim(1) : -1;
            Value sum = start.outputs().size() > 2 ? start.output(2) : null;
            boolean hasSum = sum != null && !sum.name().isEmpty() && sum.hasUses();
            stream = hasSum ? sum : start.output(0);
        } else {
            hidden = start.input(0).initializer().dim(1);
            stream = absorbEmbeddings(start.output(0), scope);
        }
        boolean fusedPostNorm = fused && stream == start.output(0);
        Chain chain = walk(scope, stream, hidden, fusedPostNorm);
        if (chain != null) {
            return List.of(chain);
        }
        List<Chain> chains = new ArrayList<>();
        Set<Graph> children = new LinkedHashSet<>();
        for (Use use : stream.uses()) {
            if (use.node().graph() != scope) {
                children.add(use.node().graph());
            }
        }
        for (Graph child : children) {
            Chain sub = walk(child, stream, hidden, fusedPostNorm);
            if (sub != null) {
                chains.add(sub);
            }
        }
        return chains;
    }

    /** Follows position/token-type embedding Adds, scaling and casts after the token Gather. */
    private Value absorbEmbeddings(Value embedded, Graph scope) {
        Value e = embedded;
        for (int i = 0; i < 8; i++) {
            List<Use> uses = structuralUses(e, scope);
            if (uses.size() != 1 || uses.get(0).node().outputs().isEmpty()) {
                break;
            }
            Node n = uses.get(0).node();
            Value other = n.inputCount() == 2 ? n.input(1 - uses.get(0).index()) : null;
            boolean absorb = n.is("Cast") || n.is("Identity")
                    || n.is("Mul") && other != null && Constants.isConstant(other)
                    || n.is("Add") && other != null && other != e && !dependsOn(other, e, scope);
            if (!absorb) {
                break;
            }
            e = n.output(0);
        }
        return e;
    }

    /** The structural walk of one graph, or null when no block is found there. */
    private Chain walk(Graph scope, Value resid0, long hidden, boolean fusedPostNorm) {
        Value h = pastSteering(resid0, scope);
        boolean postNorm = fusedPostNorm;
        Join first = join(h, scope);
        if (first == null && !postNorm) {
            Value normed = closedNorm(h, scope);
            if (normed == null) {
                return null;
            }
            Join afterNorm = join(normed, scope);
            if (afterNorm == null) {
                return null;
            }
            postNorm = true;
            h = normed;
        }
        String layout = layoutOf(h, scope, postNorm, first != null ? first : join(h, scope));
        List<Block> blocks = new ArrayList<>();
        for (int layer = 0; h != null; layer++) {
            Join attn = join(h, scope);
            if (attn == null) {
                if (!postNorm) {
                    checkFinalNorm(h, scope, layer);
                }
                break;
            }
            Value mid = postNorm ? (attn.normed != null ? attn.normed : closedNorm(attn.sum, scope)) : attn.sum;
            if (mid == null) {
                notes.add(scope.name() + ": layer " + layer + ": the residual sum after attention ("
                        + attn.node + ") is not " + (postNorm ? "followed by a LayerNorm" : "a tensor in this graph")
                        + "; the walk stopped there");
                break;
            }
            Join mlp = join(pastSteering(mid, scope), scope);
            if (mlp == null) {
                notes.add(scope.name() + ": layer " + layer + ": found the attention join " + attn.node
                        + " but no second residual join for the MLP; the walk stopped there");
                break;
            }
            Value post = postNorm ? (mlp.normed != null ? mlp.normed : closedNorm(mlp.sum, scope)) : mlp.sum;
            Value attnIn = postNorm ? null : sublayerInput(h, attn, scope, "attn_in." + layer);
            Value mlpIn = postNorm ? null : sublayerInput(pastSteering(mid, scope), mlp, scope, "mlp_in." + layer);
            blocks.add(new Block(layer, h, attnIn, attn, mid, mlpIn, mlp, post));
            if (post == null) {
                notes.add(postNorm
                        ? scope.name() + ": resid_post." + layer + ": the sum of " + mlp.node
                                + " is not followed by a LayerNorm; the walk stopped there"
                        : "resid_post." + layer + " is not a tensor in " + scope.name() + ": " + mlp.node
                                + " is also the final norm and computes the residual sum without exposing it "
                                + "(its optional output 3)");
            }
            h = post == null ? null : pastSteering(post, scope);
        }
        if (blocks.isEmpty()) {
            return null;
        }
        if (postNorm) {
            notes.add(scope.name() + ": post-norm layout: attention and MLP read the residual stream itself "
                    + "(resid_pre, resid_mid), so there are no separate attn_in/mlp_in sites");
        }
        if (blocks.get(0).attn.fusedBias != null) {
            notes.add("fused graph: attn_out/mlp_out are the projection MatMul outputs; their biases are added inside "
                    + blocks.get(0).attn.node.opType() + " (the BiasSlot)");
        }
        return new Chain(scope, layout, hidden, blocks, postNorm);
    }

    private String layoutOf(Value h, Graph scope, boolean postNorm, Join join) {
        if (join != null && !join.node.domain().isEmpty()) {
            return (postNorm ? "fused post-norm encoder" : "fused pre-norm decoder") + " (onnxruntime "
                    + join.node.opType() + ")";
        }
        if (postNorm) {
            return "post-norm encoder (bert)";
        }
        boolean rms = false;
        boolean layerNorm = false;
        for (Use use : structuralUses(h, scope)) {
            Node n = use.node();
            String op = n.opType();
            if (op.equals("LayerNormalization") || n.is("ReduceMean") || n.is("Sub")) {
                layerNorm = true;
            } else if (op.equals("SimplifiedLayerNormalization") || op.equals("RMSNormalization") || n.is("Pow")
                    || n.is("Mul") && n.input(0) == h && n.input(1) == h) {
                rms = true;
            }
        }
        return "pre-norm decoder (" + (rms && !layerNorm ? "llama" : layerNorm ? "gpt2" : "unknown norm") + ")";
    }

    private void checkFinalNorm(Value h, Graph scope, int layers) {
        Node p = h.producer();
        // a fused skip norm that is also the final norm returns the last residual sum as output 3, read by nothing
        boolean skipNormSum = p != null && isSkipNorm(p) && h.outputIndex() == 3;
        if (h.isGraphOutput() || skipNormSum || closedNorm(h, scope) != null) {
            return;
        }
        List<String> readers = structuralUses(h, scope).stream().map(u -> u.node().toString()).distinct().toList();
        notes.add(scope.name() + ": after layer " + (layers - 1) + " the residual stream " + h
                + " goes to " + readers + ", not to a recognised final norm; layers past that point, if any, "
                + "are not listed");
    }

    // ---------------------------------------------------------------------------------------------
    // Structural matchers

    /** The unique residual join reading {@code h} in {@code scope}, or null (with a note when ambiguous). */
    private Join join(Value h, Graph scope) {
        List<Join> found = new ArrayList<>();
        for (Use use : structuralUses(h, scope)) {
            Node n = use.node();
            boolean add = n.is("Add") && n.inputCount() == 2;
            boolean skipNorm = use.index() <= 1 && isSkipNorm(n);
            if (!add && !skipNorm) {
                continue;
            }
            Value x = n.input(1 - use.index());
            if (x == null || x == h || Constants.isConstant(x)) {
                continue;
            }
            Set<Node> region = region(x, h, scope);
            if (x.producer() == null || !region.contains(x.producer())) {
                continue;
            }
            if (add) {
                found.add(new Join(n, h, x, n.output(0), null, null, region));
            } else {
                boolean simplified = n.opType().equals("SkipSimplifiedLayerNormalization");
                int biasIndex = simplified ? 3 : 4;
                Value bias = n.input(biasIndex);
                BiasSlot slot = bias != null && bias.isInitializer() ? new BiasSlot(n, biasIndex, bias) : null;
                Value sum = n.outputs().size() > 3 && !n.output(3).name().isEmpty() ? n.output(3) : null;
                found.add(new Join(n, h, x, sum, n.output(0), slot, region));
            }
        }
        if (found.size() > 1) {
            notes.add(scope.name() + ": " + h + " feeds " + found.size() + " residual joins "
                    + found.stream().map(j -> j.node.toString()).toList() + "; the structure is ambiguous there");
            return null;
        }
        return found.isEmpty() ? null : found.get(0);
    }

    /**
     * The normalised copy of the residual {@code h} that the sublayer of {@code join} reads (pre-norm
     * layouts): output 0 of the fused SkipLayerNormalization / EmbedLayerNormalization whose residual
     * output is {@code h}; else the output of a LayerNormalization-like op reading h; else the single
     * value leaving a decomposed LayerNorm/RMSNorm (reductions and elementwise ops on h and constants)
     * inside the sublayer. Null, with a note, when none is found.
     */
    private Value sublayerInput(Value h, Join join, Graph scope, String siteName) {
        Node p = h.producer();
        if (p != null && p.domain().equals(MS) && p.graph() == scope) {
            boolean skip = isSkipNorm(p) && h.outputIndex() == 3;
            boolean embed = p.opType().equals("EmbedLayerNormalization") && h.outputIndex() == 2;
            if (skip || embed) {
                Value normed = p.output(0);
                if (readIn(normed, join.region, Set.of())) {
                    return normed;
                }
                notes.add(scope.name() + ": " + siteName + " is left out: output 0 of " + p
                        + " is not read by the sublayer after it");
                return null;
            }
        }
        List<Use> uses = structuralUses(h, scope).stream().filter(u -> u.node() != join.node).toList();
        if (uses.size() == 1 && uses.get(0).index() == 0) {
            String op = uses.get(0).node().opType();
            if ((op.equals("LayerNormalization") || op.equals("SimplifiedLayerNormalization")
                    || op.equals("RMSNormalization")) && readIn(uses.get(0).node().output(0), join.region, Set.of())) {
                return uses.get(0).node().output(0);
            }
        }
        Set<Node> norm = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<Value> values = Collections.newSetFromMap(new IdentityHashMap<>());
        values.add(h);
        boolean changed = true;
        while (changed && norm.size() < 48) {
            changed = false;
            for (Value v : List.copyOf(values)) {
                for (Use use : structuralUses(v, scope)) {
                    Node n = use.node();
                    if (norm.contains(n) || n == join.node || !join.region.contains(n) || !n.domain().isEmpty()
                            || !NORM_OPS.contains(n.opType())) {
                        continue;
                    }
                    if (n.inputs().stream().allMatch(in -> in == null || values.contains(in) || Constants.isConstant(in))) {
                        norm.add(n);
                        values.addAll(n.outputs());
                        changed = true;
                    }
                }
            }
        }
        boolean reduces = norm.stream().anyMatch(n -> n.opType().startsWith("Reduce"));
        List<Value> exits = values.stream().filter(v -> v != h && readIn(v, join.region, norm)).toList();
        if (reduces && exits.size() == 1) {
            return exits.get(0);
        }
        notes.add(scope.name() + ": " + siteName + " is left out: no single normalisation of " + h
                + " feeds the sublayer of " + join.node + (reduces ? " (" + exits.size() + " values leave it)" : ""));
        return null;
    }

    /** Whether a node of {@code region} outside {@code except} reads {@code v}. */
    private static boolean readIn(Value v, Set<Node> region, Set<Node> except) {
        return v.uses().stream().anyMatch(u -> region.contains(u.node()) && !except.contains(u.node()));
    }

    /**
     * The output of a normalisation that consumes all of {@code s}: a LayerNormalization-like op, or
     * a decomposed LayerNorm/RMSNorm (reductions and elementwise ops on s and constants) whose only
     * value read outside it is its result. Null when s is also read by anything else.
     */
    private Value closedNorm(Value s, Graph scope) {
        if (s == null) {
            return null;
        }
        List<Use> uses = structuralUses(s, scope);
        if (uses.isEmpty()) {
            return null;
        }
        if (uses.size() == 1 && uses.get(0).index() == 0) {
            String op = uses.get(0).node().opType();
            if (op.equals("LayerNormalization") || op.equals("SimplifiedLayerNormalization")
                    || op.equals("RMSNormalization")) {
                return uses.get(0).node().output(0);
            }
        }
        Set<Node> region = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<Value> values = Collections.newSetFromMap(new IdentityHashMap<>());
        values.add(s);
        boolean changed = true;
        while (changed && region.size() < 48) {
            changed = false;
            for (Value v : List.copyOf(values)) {
                for (Use use : structuralUses(v, scope)) {
                    Node n = use.node();
                    if (region.contains(n) || !n.domain().isEmpty() || !NORM_OPS.contains(n.opType())) {
                        continue;
                    }
                    boolean inside = n.inputs().stream().allMatch(in -> in == null || values.contains(in) || Constants.isConstant(in));
                    if (inside) {
                        region.add(n);
                        values.addAll(n.outputs());
                        changed = true;
                    }
                }
            }
        }
        boolean reduces = region.stream().anyMatch(n -> n.opType().startsWith("Reduce"));
        boolean divides = region.stream().anyMatch(n -> n.is("Sqrt") || n.is("Div") || n.is("Reciprocal"));
        if (!reduces || !divides) {
            return null;
        }
        List<Value> exits = new ArrayList<>();
        for (Value v : values) {
            boolean leaves = v.isGraphOutput()
                    || structuralUses(v, scope).stream().anyMatch(u -> !region.contains(u.node()));
            if (leaves) {
                exits.add(v);
            }
        }
        return exits.size() == 1 && exits.get(0) != s ? exits.get(0) : null;
    }

    /** Whether {@code x} is computed from {@code h} (within {@code scope}). */
    private boolean dependsOn(Value x, Value h, Graph scope) {
        return x.producer() != null && region(x, h, scope).contains(x.producer());
    }

    /**
     * The nodes of {@code scope} on a path from {@code h} (or a sibling output of h's producer, as
     * in SkipLayerNormalization, whose normed output feeds the sublayer) to {@code x}.
     */
    private Set<Node> region(Value x, Value h, Graph scope) {
        Node start = h.producer();
        Map<Node, Integer> pos = positions(scope);
        int startPos = start != null && start.graph() == scope ? pos.getOrDefault(start, -1) : -1;
        Set<Node> ancestors = Collections.newSetFromMap(new IdentityHashMap<>());
        Set<Node> touching = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Node> todo = new ArrayDeque<>();
        Node from = x.producer();
        if (from == null || from.graph() != scope || from == start) {
            return Set.of();
        }
        todo.add(from);
        while (!todo.isEmpty()) {
            Node n = todo.poll();
            if (!ancestors.add(n)) {
                continue;
            }
            for (Value in : n.inputs()) {
                if (in == null) {
                    continue;
                }
                Node p = in.producer();
                if (in == h || p != null && p == start) {
                    touching.add(n);
                    continue;
                }
                if (p == null || p.graph() != scope || pos.getOrDefault(p, -1) <= startPos) {
                    continue;
                }
                todo.add(p);
            }
        }
        List<Node> ordered = new ArrayList<>(ancestors);
        ordered.sort(Comparator.comparingInt(n -> pos.getOrDefault(n, Integer.MAX_VALUE)));
        Set<Node> reached = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node n : ordered) {
            boolean on = touching.contains(n)
                    || n.inputs().stream().anyMatch(in -> in != null && in.producer() != null && reached.contains(in.producer()));
            if (on) {
                reached.add(n);
            }
        }
        return reached;
    }

    /** Topological positions of the nodes of {@code graph} (Kahn's order; file order breaks ties). */
    private Map<Node, Integer> positions(Graph graph) {
        return positions.computeIfAbsent(graph, g -> {
            List<Node> nodes = g.nodes();
            Map<Value, Node> producers = new IdentityHashMap<>();
            for (Node n : nodes) {
                for (Value out : n.outputs()) {
                    producers.put(out, n);
                }
            }
            Map<Node, Integer> pending = new IdentityHashMap<>();
            Map<Node, List<Node>> dependents = new IdentityHashMap<>();
            for (Node n : nodes) {
                int count = 0;
                for (Value in : n.inputs()) {
                    Node p = in == null ? null : producers.get(in);
                    if (p != null && p != n) {
                        count++;
                        dependents.computeIfAbsent(p, k -> new ArrayList<>()).add(n);
                    }
                }
                pending.put(n, count);
            }
            Map<Node, Integer> order = new IdentityHashMap<>();
            Map<Node, Integer> file = new IdentityHashMap<>();
            for (int i = 0; i < nodes.size(); i++) {
                file.put(nodes.get(i), i);
            }
            java.util.PriorityQueue<Node> ready = new java.util.PriorityQueue<>(Comparator.comparingInt(file::get));
            nodes.stream().filter(n -> pending.get(n) == 0).forEach(ready::add);
            while (!ready.isEmpty()) {
                Node n = ready.poll();
                order.put(n, order.size());
                for (Node d : dependents.getOrDefault(n, List.of())) {
                    if (pending.merge(d, -1, Integer::sum) == 0) {
                        ready.add(d);
                    }
                }
            }
            for (Node n : nodes) {
                order.putIfAbsent(n, file.get(n) + nodes.size());
            }
            return order;
        });
    }

    /** Uses of {@code v} by nodes of {@code scope}, leaving out shape queries. */
    private static List<Use> structuralUses(Value v, Graph scope) {
        List<Use> uses = new ArrayList<>();
        for (Use use : v.uses()) {
            Node n = use.node();
            if (n.graph() == scope && !n.is("Shape") && !n.is("Size")) {
                uses.add(use);
            }
        }
        return uses;
    }

    /**
     * In a model onnx-steer already compiled, the stream leaves a steered site through the nodes the
     * compiler inserted ({@code /onnx_steer/...}); the walk continues from the value those nodes hand
     * back to the model, so a compiled model can be inspected and compiled again. The site itself stays
     * the unsteered tensor.
     */
    private static Value pastSteering(Value h, Graph scope) {
        List<Use> uses = structuralUses(h, scope);
        if (uses.isEmpty() || !uses.stream().allMatch(u -> isSteering(u.node()))) {
            return h;
        }
        Set<Node> region = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Node> todo = new ArrayDeque<>();
        uses.forEach(u -> todo.add(u.node()));
        List<Value> exits = new ArrayList<>();
        while (!todo.isEmpty()) {
            Node node = todo.poll();
            if (!region.add(node)) {
                continue;
            }
            for (Value out : node.outputs()) {
                boolean leaves = out.isGraphOutput();
                for (Use use : structuralUses(out, scope)) {
                    if (isSteering(use.node())) {
                        todo.add(use.node());
                    } else {
                        leaves = true;
                    }
                }
                if (leaves && !exits.contains(out)) {
                    exits.add(out);
                }
            }
        }
        return exits.size() == 1 ? exits.get(0) : h;
    }

    private static boolean isSteering(Node node) {
        return node.name().startsWith("/onnx_steer/");
    }

    // ---------------------------------------------------------------------------------------------
    // Sites

    private List<Site> sitesOf(Chain chain) {
        Map<Integer, Integer> named = new TreeMap<>();
        Map<Integer, String> unsure = new LinkedHashMap<>();
        for (Block block : chain.blocks) {
            Integer attn = namedLayer(block.attn.region);
            Integer mlp = namedLayer(block.mlp.region);
            if (attn != null && mlp != null && !attn.equals(mlp)) {
                unsure.put(block.layer, "its attention names say layer " + attn + " but its MLP names say layer " + mlp);
            } else if (attn != null || mlp != null) {
                named.put(block.layer, attn != null ? attn : mlp);
            }
        }
        Set<Integer> offsets = new LinkedHashSet<>();
        named.forEach((layer, name) -> offsets.add(name - layer));
        if (offsets.size() == 1 && offsets.iterator().next() != 0 && named.size() == chain.blocks.size()) {
            notes.add(chain.graph.name() + ": names number the layers from " + offsets.iterator().next()
                    + "; sites use 0-based structural indices");
        } else {
            named.forEach((layer, name) -> {
                if (layer.intValue() != name.intValue()) {
                    unsure.put(layer, "it is layer " + layer + " by structure but its node and weight names say layer " + name);
                }
            });
        }
        unsure.forEach((layer, why) -> notes.add(chain.graph.name() + ": layer " + layer + " is left out: " + why));

        Set<Integer> attnInOff = offRole(chain, SiteKind.ATTN_IN, Block::attnIn);
        Set<Integer> mlpInOff = offRole(chain, SiteKind.MLP_IN, Block::mlpIn);
        List<Site> sites = new ArrayList<>();
        BiasSlot previousPost = null;
        for (Block b : chain.blocks) {
            boolean keep = !unsure.containsKey(b.layer);
            boolean attnLooksRight = hasAttention(b.attn.region) && !hasAttention(b.mlp.region);
            if (keep && !attnLooksRight) {
                notes.add(chain.graph.name() + ": layer " + b.layer + ": expected attention (Softmax or an Attention op) "
                        + "before the first join and none before the second; attn_in, attn_out, resid_mid, mlp_in and "
                        + "mlp_out are left out");
            }
            BiasSlot attnBias = b.attn.fusedBias != null ? b.attn.fusedBias : biasOf(b.attn.sublayer, chain.hidden);
            BiasSlot mlpBias = b.mlp.fusedBias != null ? b.mlp.fusedBias : biasOf(b.mlp.sublayer, chain.hidden);
            BiasSlot midBias = chain.postNorm ? null : b.attn.fusedBias != null ? attnBias
                    : onlyFeeds(b.attn.sublayer, b.attn.node) ? attnBias : null;
            BiasSlot postBias = chain.postNorm ? null : b.mlp.fusedBias != null ? mlpBias
                    : onlyFeeds(b.mlp.sublayer, b.mlp.node) ? mlpBias : null;
            if (keep) {
                add(sites, chain, SiteKind.RESID_PRE, b.layer, b.pre, b.layer == 0 || chain.postNorm ? null : previousPost);
                if (attnLooksRight) {
                    add(sites, chain, SiteKind.ATTN_IN, b.layer, attnInOff.contains(b.layer) ? null : b.attnIn, null);
                    add(sites, chain, SiteKind.ATTN_OUT, b.layer, b.attn.sublayer, attnBias);
                    add(sites, chain, SiteKind.RESID_MID, b.layer, b.mid, midBias);
                    add(sites, chain, SiteKind.MLP_IN, b.layer, mlpInOff.contains(b.layer) ? null : b.mlpIn, null);
                    add(sites, chain, SiteKind.MLP_OUT, b.layer, b.mlp.sublayer, mlpBias);
                }
                add(sites, chain, SiteKind.RESID_POST, b.layer, b.post, postBias);
            }
            previousPost = postBias;
        }
        return sites;
    }

    /**
     * The layers whose sublayer input plays a different role than in the others. A sublayer input is
     * the value the sublayer's first projections read (for a decomposed LayerNorm, the output of the
     * affine Add, not the Div before it); where most layers' normalised values feed only linear
     * projections, a layer whose value feeds something else was matched to a different tensor (a gain
     * the matcher could not see as constant, say), so its site is left out, with a note, rather than
     * steer another tensor under the same name.
     */
    private Set<Integer> offRole(Chain chain, SiteKind kind, java.util.function.Function<Block, Value> pick) {
        Map<Integer, List<Node>> others = new TreeMap<>();
        int projected = 0;
        for (Block b : chain.blocks) {
            Value x = pick.apply(b);
            if (x == null) {
                continue;
            }
            Value read = pastSteering(x, chain.graph);
            Projections.Readers readers = Projections.of(read, chain.hidden);
            if (readers.others().isEmpty() && !readers.projections().isEmpty() && !read.isGraphOutput()) {
                projected++;
            } else {
                others.put(b.layer, readers.others());
            }
        }
        if (projected == 0 || others.isEmpty()) {
            return Set.of();
        }
        others.forEach((layer, readers) -> notes.add(chain.graph.name() + ": " + kind.label() + "." + layer
                + " is left out: its normalised value " + pick.apply(chain.blocks.get(layer)) + " is read by " + readers
                + ", not only by the linear projections that read it in the other layers, so it is not the same "
                + "tensor there"));
        return others.keySet();
    }

    private static void add(List<Site> sites, Chain chain, SiteKind kind, int layer, Value value, BiasSlot bias) {
        if (value == null) {
            return;
        }
        var type = value.tensorType();
        long hidden = type != null && type.lastDim() > 0 ? type.lastDim() : chain.hidden;
        List<Projection> projections = kind.isSublayerInput()
                ? Projections.of(value, hidden).onlyProjections(value) : List.of();
        sites.add(new Site(kind, layer, value, chain.graph, hidden, bias, projections));
    }

    /** The layer index most names in {@code region} mention, or null when none do or two tie. */
    private static Integer namedLayer(Set<Node> region) {
        Map<Integer, Integer> votes = new HashMap<>();
        for (Node n : region) {
            vote(votes, n.name());
            for (Value out : n.outputs()) {
                vote(votes, out.name());
            }
            for (Value in : n.inputs()) {
                if (in != null && in.isInitializer() && in.initializer().rank() >= 2) {
                    vote(votes, in.name());
                }
            }
        }
        Integer best = null;
        int bestCount = 0;
        boolean tie = false;
        for (Map.Entry<Integer, Integer> e : votes.entrySet()) {
            if (e.getValue() > bestCount) {
                best = e.getKey();
                bestCount = e.getValue();
                tie = false;
            } else if (e.getValue() == bestCount) {
                tie = true;
            }
        }
        return tie ? null : best;
    }

    private static void vote(Map<Integer, Integer> votes, String name) {
        Matcher m = LAYER_NAME.matcher(name);
        if (m.find()) {
            try {
                votes.merge(Integer.parseInt(m.group(1)), 1, Integer::sum);
            } catch (NumberFormatException ignored) {
                // a number too long to be a layer index is not one
            }
        }
    }

    private static boolean hasAttention(Set<Node> region) {
        return region.stream().anyMatch(n -> n.is("Softmax") || n.opType().contains("Attention"));
    }

    /**
     * The bias initializer that {@code x} is the output of (through Reshape/Identity): Add(y, bias) or
     * Gemm's C, with a hidden-sized float bias, where nothing else reads the intermediate values.
     */
    private static BiasSlot biasOf(Value x, long hidden) {
        Value v = x;
        for (int i = 0; i < 3 && v.producer() != null; i++) {
            Node p = v.producer();
            if (v != x && v.uses().size() != 1) {
                return null;
            }
            if (p.is("Reshape") || p.is("Identity")) {
                v = p.input(0);
                continue;
            }
            if (p.is("Add") && p.inputCount() == 2) {
                for (int k = 0; k < 2; k++) {
                    Value bias = p.input(k);
                    Value other = p.input(1 - k);
                    if (Projections.isVector(bias, hidden) && other != null && !Constants.isConstant(other)) {
                        return new BiasSlot(p, k, bias);
                    }
                }
            }
            if (p.is("Gemm") && p.inputCount() > 2 && Projections.isVector(p.input(2), hidden)) {
                return new BiasSlot(p, 2, p.input(2));
            }
            return null;
        }
        return null;
    }

    /** Whether the join is the only reader of {@code x}, so a constant folded upstream reaches nothing else. */
    private static boolean onlyFeeds(Value x, Node join) {
        List<Use> uses = x.uses();
        return !x.isGraphOutput() && uses.size() == 1 && uses.get(0).node() == join;
    }
}
