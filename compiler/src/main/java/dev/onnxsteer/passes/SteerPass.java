package dev.onnxsteer.passes;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.ElementTypes;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.HalfFloats;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.sites.BiasSlot;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteMap;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Changes the residual stream at each requested site: {@code x + c v} by default, or another
 * {@link SteerOp} restricted to some {@link Positions} and optionally norm-preserving (see
 * {@link SteerOptions}), in one of three ways (see {@link Mode}). Every site copy is rewritten (both
 * branches of a merged decoder's If). All checks run before the first edit, so a refused request
 * leaves the model untouched. Weight orthogonalisation is {@link OrthogonalizePass}, not this pass.
 */
public final class SteerPass implements Pass {
    /** Bank inputs of {@code --mode input} with a bank; with several sites each has its own {@code steer_bank.SITE}. */
    public static final String BANK_INPUT = "steer_bank";
    public static final String INDEX_INPUT = "steer_index";
    public static final String SCALE_INPUT = "steer_scale";
    /** The symbolic first dimension of every per-row steering input: one entry per row of the batch. */
    public static final String BATCH_DIM = "steer_batch";
    private static final float NORM_FLOOR = 1e-30f;

    /**
     * What was done at one site copy. {@code tensor} names the initializer that now carries the
     * change (the added {@code c*v}, for clamp {@code c*r}; the vector input's default; the bank
     * input's default; or the folded bias), null for ablate; {@code directionTensor} names the unit
     * direction r of a direction-using op with constant operands; in input mode
     * {@code coefficientTensor} names the coefficient input ({@value #SCALE_INPUT} with a bank);
     * in bias mode {@code originalBias} names the bias as it was in the source model.
     */
    public record Applied(Steering steering, Site site, Mode mode, String tensor, String coefficientTensor,
            String originalBias, SteerOptions options, String directionTensor) {
        public Applied(Steering steering, Site site, Mode mode, String tensor, String coefficientTensor,
                String originalBias) {
            this(steering, site, mode, tensor, coefficientTensor, originalBias, SteerOptions.ADD, null);
        }
    }

    /**
     * One site copy to rewrite; {@code rows} holds the bank rows (one entry without a bank); {@code type}
     * is the site's element type, which every node and constant added there carries.
     */
    private record Step(Steering steering, List<Steering> rows, Site site, Mode mode, DataType type) {}

    /** The graph values an operation reads: each either [hidden] (constant) or [batch, 1, hidden] (per row). */
    private record Operands(Value addend, Value direction, Value directionColumn, Value clampTarget, boolean perRow,
            String tensor, String coefficientTensor, String directionTensor) {}

    private final SiteMap sites;
    private final List<Steering> steerings;
    private final Mode mode;
    private final SteerOptions options;
    private final List<Applied> applied = new ArrayList<>();
    private final Map<String, Value> ones = new HashMap<>();
    private PositionMask masks;

    public SteerPass(SiteMap sites, List<Steering> steerings, Mode mode) {
        this(sites, steerings, mode, SteerOptions.ADD);
    }

    public SteerPass(SiteMap sites, List<Steering> steerings, Mode mode, SteerOptions options) {
        this.sites = sites;
        this.steerings = List.copyOf(steerings);
        this.mode = mode;
        this.options = options;
    }

    /** What the last {@link #apply} did, one entry per site copy. */
    public List<Applied> applied() {
        return List.copyOf(applied);
    }

    @Override
    public boolean apply(Model model) {
        if (options.op() == SteerOp.ORTHOGONALIZE) {
            throw new IllegalArgumentException("orthogonalize rewrites weights; use OrthogonalizePass (Compilation does)");
        }
        if (options.bank() && mode != Mode.INPUT) {
            throw new IllegalArgumentException("a vector bank is a set of graph inputs; it needs --mode input, not --mode "
                    + mode.label());
        }
        masks = new PositionMask(model);
        masks.check(options.positions());
        Map<String, List<Steering>> bySite = groupBySite();
        ElementTypes types = new ElementTypes();
        List<Step> plan = new ArrayList<>();
        for (List<Steering> group : bySite.values()) {
            Steering steering = options.bank() ? group.get(0) : merge(group);
            for (Site site : sites.find(steering.kind(), steering.layer())) {
                DataType type = elementType(site, types);
                for (Steering row : options.bank() ? group : List.of(steering)) {
                    check(row, site);
                }
                plan.add(new Step(steering, group, site, resolve(site), type));
            }
        }
        if (options.bank()) {
            int k = plan.isEmpty() ? 0 : plan.get(0).rows().size();
            for (Step step : plan) {
                if (step.rows().size() != k) {
                    throw new BadVectorException("a bank needs the same number of vectors at every site; "
                            + plan.get(0).site().name() + " has " + k + " but " + step.site().name() + " has "
                            + step.rows().size());
                }
            }
        }
        applied.clear();
        boolean several = bySite.size() > 1;
        for (Step step : plan) {
            applied.add(switch (step.mode()) {
                case BIAS -> step.site().kind().isSublayerInput()
                        ? SublayerInputBias.fold(model, step.steering(), step.site(), options.createBias())
                        : step.site().bias() == null ? QuantisedBias.fold(step.steering(), step.site())
                        : foldIntoBias(step);
                case INPUT -> rewrite(model, step, options.bank() ? bankOperands(model, step, several)
                        : inputOperands(model, step));
                default -> rewrite(model, step, constantOperands(model, step));
            });
        }
        model.graph().sortTopologically();
        return !plan.isEmpty();
    }

    private Map<String, List<Steering>> groupBySite() {
        Map<String, List<Steering>> bySite = new LinkedHashMap<>();
        for (Steering s : steerings) {
            bySite.computeIfAbsent(s.siteName(), k -> new ArrayList<>()).add(s);
        }
        return bySite;
    }

    /** Several vectors for one site become one: the sum of each times its coefficient (add only). */
    private Steering merge(List<Steering> group) {
        if (group.size() == 1) {
            return group.get(0);
        }
        Steering first = group.get(0);
        if (options.op() != SteerOp.ADD) {
            throw new BadVectorException(options.op().label() + " takes one direction per site but " + group.size()
                    + " vectors were given for " + first.siteName() + "; combine them into one vector first");
        }
        float[] sum = new float[first.vector().length];
        for (Steering s : group) {
            if (s.vector().length != sum.length) {
                throw new BadVectorException("two vectors for " + s.siteName() + " have different sizes: "
                        + sum.length + " and " + s.vector().length);
            }
            for (int i = 0; i < sum.length; i++) {
                sum[i] += s.coefficient() * s.vector()[i];
            }
        }
        return new Steering(first.kind(), first.layer(), sum, 1f);
    }

    private Mode resolve(Site site) {
        if (mode == Mode.AUTO) {
            boolean foldable = site.biasFoldable() || QuantisedBias.biasless(site) != null;
            return foldable && options.isPlainAdd() ? Mode.BIAS : Mode.ADD;
        }
        return mode;
    }

    private void check(Steering steering, Site site) {
        float[] v = steering.vector();
        if (v.length != site.hiddenSize()) {
            throw new BadVectorException("vector has " + v.length + " values but " + site.name()
                    + " of this model has hidden size " + site.hiddenSize());
        }
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                throw new BadVectorException("vector for " + site.name() + " has " + v[i] + " at index " + i
                        + "; expected finite values");
            }
        }
        if (options.op().usesDirection() && norm(v) == 0) {
            throw new BadVectorException("vector for " + site.name() + " is all zeros; " + options.op().label()
                    + " needs a direction");
        }
        if (!Float.isFinite(steering.coefficient())) {
            throw new IllegalArgumentException("coefficient for " + site.name() + " is " + steering.coefficient()
                    + "; expected a finite number");
        }
        if (FusedNorms.isEmbedLayerNormSum(site.value()) && resolve(site) != Mode.BIAS) {
            throw new IllegalArgumentException(site.name() + " is computed inside a fused EmbedLayerNormalization that also "
                    + "normalises it, so it cannot be steered by adding after the node; steer resid_pre.1 or a later site, "
                    + "or use an unfused export");
        }
        if (resolve(site) == Mode.BIAS) {
            checkBias(site);
        }
    }

    /** The site's element type (float32 when the graph does not tell); refuses a type that is not a float. */
    private static DataType elementType(Site site, ElementTypes types) {
        DataType type = types.of(site.value()).orElse(DataType.FLOAT);
        if (!HalfFloats.isSteerable(type)) {
            throw new BadModelException("site " + site.name() + " is " + type.label()
                    + "; only float32, float16 and bfloat16 sites can be steered");
        }
        return type;
    }

    private void checkBias(Site site) {
        if (!options.isPlainAdd()) {
            throw new IllegalArgumentException("--mode bias folds a constant into a bias, so it can only add at every "
                    + "position without --preserve-norm; this compilation is " + describe(options) + "; use --mode add");
        }
        if (site.kind().isSublayerInput()) {
            SublayerInputBias.check(site, options.createBias());
            return;
        }
        if (!site.biasFoldable() && QuantisedBias.biasless(site) != null) {
            return;
        }
        if (!site.biasFoldable()) {
            String quantised = QuantisedBias.whyNot(site);
            throw new IllegalArgumentException("--mode bias: " + site.name() + (quantised != null ? " " + quantised
                    : " is not produced through a bias initializer (its sublayer output has no MatMul + Add(bias))")
                    + "; use --mode add");
        }
        Tensor bias = site.bias().initializer().initializer();
        if (!HalfFloats.isSteerable(bias.type()) || bias.elementCount() != site.hiddenSize()) {
            throw new IllegalArgumentException("--mode bias: the bias " + site.bias().initializer() + " of "
                    + site.name() + " is " + bias + ", expected a float, float16 or bfloat16 tensor of "
                    + site.hiddenSize() + " values; use --mode add");
        }
    }

    static String describe(SteerOptions options) {
        return "--op " + options.op().label() + " --positions " + options.positions()
                + (options.preserveNorm() ? " --preserve-norm" : "") + (options.bank() ? " with a bank" : "");
    }

    static double norm(float[] v) {
        double sum = 0;
        for (float x : v) {
            sum += (double) x * x;
        }
        return Math.sqrt(sum);
    }

    static float[] scaled(float[] v, double factor) {
        float[] out = new float[v.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (factor * v[i]);
        }
        return out;
    }

    private static float[] unit(float[] v) {
        double n = norm(v);
        float[] out = new float[v.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (v[i] / n);
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------
    // Operands: constants, inputs, or a bank

    private Operands constantOperands(Model model, Step step) {
        Steering s = step.steering();
        Site site = step.site();
        Graph root = model.graph();
        long h = site.hiddenSize();
        DataType type = step.type();
        String base = "onnx_steer." + site.name();
        SteerOp op = options.op();
        Value addend = null;
        Value direction = null;
        Value column = null;
        Value clamp = null;
        if (op == SteerOp.ADD || op == SteerOp.ABLATE_ADD) {
            addend = root.addInitializer(root.names().fresh(base + ".add"),
                    Tensor.ofFloats(type, new long[] {h}, scaled(s.vector(), s.coefficient())));
        }
        if (op.usesDirection()) {
            float[] r = unit(s.vector());
            direction = root.addInitializer(root.names().fresh(base + ".direction"), Tensor.ofFloats(type, new long[] {h}, r));
            column = root.addInitializer(root.names().fresh(base + ".direction_column"),
                    Tensor.ofFloats(type, new long[] {h, 1}, r));
            if (op == SteerOp.CLAMP) {
                clamp = root.addInitializer(root.names().fresh(base + ".clamp"),
                        Tensor.ofFloats(type, new long[] {h}, scaled(r, s.coefficient())));
            }
        }
        String tensor = op == SteerOp.CLAMP ? clamp.name() : addend != null ? addend.name() : null;
        return new Operands(addend, direction, column, clamp, false, tensor, null,
                direction != null ? direction.name() : null);
    }

    /** {@code steer.SITE.vector [steer_batch, hidden]} and {@code steer.SITE.coefficient}, defaulting to the compiled values. */
    private Operands inputOperands(Model model, Step step) {
        Steering steering = step.steering();
        Site site = step.site();
        Graph root = model.graph();
        Graph graph = site.graph();
        String base = "steer." + site.name();
        Value vector = root.find(base + ".vector").orElse(null);
        Value coefficient = root.find(base + ".coefficient").orElse(null);
        if (vector == null) {
            // [batch, hidden] so each row of a batch can carry its own vector; the default has one row.
            vector = root.addInitializer(base + ".vector",
                    Tensor.ofFloats(new long[] {1, site.hiddenSize()}, steering.vector()));
            vector.setType(ValueType.Tensor.of(DataType.FLOAT, Dim.param(BATCH_DIM), Dim.of(site.hiddenSize())));
            root.addInput(vector);
            coefficient = root.addInitializer(base + ".coefficient", Tensor.scalar(steering.coefficient()));
            root.addInput(coefficient);
        }
        String scope = "/onnx_steer/" + site.name() + "/";
        SteerOp op = options.op();
        Value addend = null;
        Value direction = null;
        Value clamp = null;
        if (op == SteerOp.ADD || op == SteerOp.ABLATE_ADD) {
            Value scaledVector = graph.op("Mul").name(scope + "Mul").inputs(vector, coefficient).value();
            addend = Unsqueeze.axis(model, graph, scope + "Unsqueeze", scaledVector, 1);
        }
        if (op.usesDirection()) {
            // a row fed zeros (an unsteered row of a mixed batch) must be the identity, not 0/0 = NaN:
            // dividing by max(|v|, the smallest normal float) gives r = 0 there and is |v| for any real vector
            Value length = norm(model, graph, scope + "vector_norm/", vector, site.hiddenSize());
            Value floor = root.addInitializer(root.names().fresh(base + ".norm_floor"), Tensor.scalar(Float.MIN_NORMAL));
            Value safeLength = graph.op("Max").name(scope + "vector_norm/Max").inputs(length, floor).value();
            Value r = graph.op("Div").name(scope + "direction/Div").inputs(vector, safeLength).value();
            direction = Unsqueeze.axis(model, graph, scope + "direction/Unsqueeze", r, 1);
            if (op == SteerOp.CLAMP) {
                clamp = graph.op("Mul").name(scope + "clamp/Mul").inputs(direction, coefficient).value();
            }
        }
        // the inputs stay float32 (what callers feed); the operands are cast once to the site's type
        return new Operands(cast(graph, scope + "add/Cast", addend, step.type()),
                cast(graph, scope + "direction/Cast", direction, step.type()), null,
                cast(graph, scope + "clamp/Cast", clamp, step.type()), true, vector.name(), coefficient.name(), null);
    }

    /**
     * {@code steer_bank [K, hidden]} (per site when several), {@code steer_index [batch]} int64 and
     * {@code steer_scale [batch]}: row b adds {@code steer_scale[b] * steer_bank[steer_index[b]]}.
     */
    private Operands bankOperands(Model model, Step step, boolean severalSites) {
        Site site = step.site();
        Graph root = model.graph();
        Graph graph = site.graph();
        long h = site.hiddenSize();
        String bankName = severalSites ? BANK_INPUT + "." + site.name() : BANK_INPUT;
        Value bank = root.find(bankName).orElse(null);
        if (bank == null) {
            List<Steering> rows = step.rows();
            float[] data = new float[Math.toIntExact(rows.size() * h)];
            for (int k = 0; k < rows.size(); k++) {
                System.arraycopy(rows.get(k).vector(), 0, data, (int) (k * h), (int) h);
            }
            bank = root.addInitializer(bankName, Tensor.ofFloats(new long[] {rows.size(), h}, data));
            bank.setType(ValueType.Tensor.of(DataType.FLOAT, Dim.param("steer_bank_size"), Dim.of(h)));
            root.addInput(bank);
        }
        Value index = root.find(INDEX_INPUT).orElse(null);
        Value scale = root.find(SCALE_INPUT).orElse(null);
        if (index == null) {
            index = root.addInitializer(INDEX_INPUT, Tensor.ofLongs(new long[] {1}, 0L));
            index.setType(ValueType.Tensor.of(DataType.INT64, Dim.param(BATCH_DIM)));
            root.addInput(index);
            scale = root.addInitializer(SCALE_INPUT, Tensor.ofFloats(new long[] {1}, step.steering().coefficient()));
            scale.setType(ValueType.Tensor.of(DataType.FLOAT, Dim.param(BATCH_DIM)));
            root.addInput(scale);
        }
        String scope = "/onnx_steer/" + site.name() + "/bank/";
        Value rows = graph.op("Gather").name(scope + "Gather").inputs(bank, index).attr("axis", 0L).value();
        Value column = Unsqueeze.axis(model, graph, scope + "scale/Unsqueeze", scale, 1);
        Value scaledRows = graph.op("Mul").name(scope + "Mul").inputs(rows, column).value();
        Value addend = cast(graph, scope + "Cast", Unsqueeze.axis(model, graph, scope + "Unsqueeze", scaledRows, 1),
                step.type());
        return new Operands(addend, null, null, null, true, bank.name(), scale.name(), null);
    }

    /** {@code value} (float32) as {@code type}; itself when that is float32 or the value is absent. */
    private static Value cast(Graph g, String name, Value value, DataType type) {
        if (value == null || type == DataType.FLOAT) {
            return value;
        }
        return g.op("Cast").name(name).inputs(value).attr("to", (long) type.code()).value();
    }

    // ---------------------------------------------------------------------------------------------
    // Rewriting a site

    private Applied rewrite(Model model, Step step, Operands operands) {
        Site site = step.site();
        if (options.op() == SteerOp.ADD && options.positions().isAll() && !options.preserveNorm()) {
            insertAdd(site, operands.addend());
        } else if (FusedNorms.isSkipNormSum(site.value())) {
            steerFusedSum(model, site, operands, step.type());
        } else {
            Value x = site.value();
            List<Use> readers = x.uses();
            Value y = transform(model, site.graph(), "/onnx_steer/" + site.name() + "/", x, operands, site.hiddenSize(),
                    step.type());
            y.setType(x.type());
            rewire(site, x, readers, y);
        }
        return new Applied(step.steering(), site, step.mode(), operands.tensor(), operands.coefficientTensor(), null,
                options, operands.directionTensor());
    }

    /**
     * {@code f(x)} of the op at every position, then norm preservation and the position mask.
     * Shapes: x {@code [batch, seq, hidden]}, projections {@code [batch, seq, 1]}.
     */
    private Value transform(Model model, Graph g, String scope, Value x, Operands o, long hidden, DataType type) {
        SteerOp op = options.op();
        Value y = x;
        if (op.usesDirection()) {
            Value projection = o.perRow()
                    ? g.op("MatMul").name(scope + "projection/MatMul")
                            .inputs(g.op("Mul").name(scope + "projection/Mul").inputs(x, o.direction()).value(),
                                    ones(model, hidden, type)).value()
                    : g.op("MatMul").name(scope + "projection/MatMul").inputs(x, o.directionColumn()).value();
            Value along = g.op("Mul").name(scope + "ablate/Mul").inputs(projection, o.direction()).value();
            y = g.op("Sub").name(scope + "ablate/Sub").inputs(x, along).value();
        }
        if (op == SteerOp.ADD || op == SteerOp.ABLATE_ADD) {
            y = g.op("Add").name(scope + "Add").inputs(y, o.addend()).value();
        }
        if (op == SteerOp.CLAMP) {
            y = g.op("Add").name(scope + "clamp/Add").inputs(y, o.clampTarget()).value();
        }
        if (options.preserveNorm()) {
            // sums of squares overflow float16 long before the values do, so the norms are taken in float32
            Value before = norm(model, g, scope + "norm_before/", widen(g, scope + "norm_before/Cast", x, type), hidden);
            Value after = norm(model, g, scope + "norm_after/", widen(g, scope + "norm_after/Cast", y, type), hidden);
            Value floor = model.graph().addInitializer(model.graph().names().fresh("onnx_steer.norm_floor"),
                    Tensor.scalar(NORM_FLOOR));
            Value safe = g.op("Max").name(scope + "norm/Max").inputs(after, floor).value();
            Value ratio = cast(g, scope + "norm/Cast", g.op("Div").name(scope + "norm/Div").inputs(before, safe).value(),
                    type);
            y = g.op("Mul").name(scope + "norm/Mul").inputs(y, ratio).value();
        }
        if (!options.positions().isAll()) {
            y = g.op("Where").name(scope + "positions/Where").inputs(masks.mask(options.positions()), y, x).value();
        }
        return y;
    }

    /** {@code value} of element type {@code type} as float32. */
    private static Value widen(Graph g, String name, Value value, DataType type) {
        return type == DataType.FLOAT ? value
                : g.op("Cast").name(name).inputs(value).attr("to", (long) DataType.FLOAT.code()).value();
    }

    /**
     * Euclidean norm of a float32 {@code v} over the last axis, keeping it: {@code sqrt((v * v) @ ones[hidden, 1])},
     * opset-independent.
     */
    private Value norm(Model model, Graph g, String scope, Value v, long hidden) {
        Value squares = g.op("Mul").name(scope + "Mul").inputs(v, v).value();
        Value sum = g.op("MatMul").name(scope + "MatMul").inputs(squares, ones(model, hidden, DataType.FLOAT)).value();
        return g.op("Sqrt").name(scope + "Sqrt").inputs(sum).value();
    }

    private Value ones(Model model, long hidden, DataType type) {
        return ones.computeIfAbsent(type.label() + hidden, key -> {
            float[] values = new float[Math.toIntExact(hidden)];
            java.util.Arrays.fill(values, 1f);
            Graph root = model.graph();
            String suffix = type == DataType.FLOAT ? "" : "_" + type.label();
            return root.addInitializer(root.names().fresh("onnx_steer.ones_" + hidden + suffix),
                    Tensor.ofFloats(type, new long[] {hidden, 1}, values));
        });
    }

    /**
     * A fused skip norm computes the residual sum and normalises it in one node, so the sum is
     * recomputed in plain ops, transformed, and handed back to the node as its whole input: both the
     * sum it returns (output 3) and the normalised value the next sublayer reads (output 0) see it.
     */
    private void steerFusedSum(Model model, Site site, Operands operands, DataType type) {
        Node fused = site.value().producer();
        Graph g = site.graph();
        String scope = "/onnx_steer/" + site.name() + "/";
        Value sum = g.op("Add").name(scope + "sum/Add").inputs(fused.input(0), fused.input(1)).value();
        int biasIndex = FusedNorms.biasIndex(fused);
        if (fused.inputCount() > biasIndex && fused.input(biasIndex) != null) {
            sum = g.op("Add").name(scope + "sum/Add_bias").inputs(sum, fused.input(biasIndex)).value();
        }
        sum.setType(site.value().type());
        Value y = transform(model, g, scope, sum, operands, site.hiddenSize(), type);
        y.setType(site.value().type());
        FusedNorms.computeFrom(g, fused, y, scope);
    }

    /** Adds {@code addend} to the site value and moves every reader of the site to the sum. */
    private static void insertAdd(Site site, Value addend) {
        Value target = site.value();
        Graph graph = site.graph();
        if (FusedNorms.isSkipNormSum(target)) {
            // sum = input + skip (+ bias): adding to the input steers the sum and its normalised output alike
            Node fused = target.producer();
            Value steeredInput = graph.op("Add").name("/onnx_steer/" + site.name() + "/Add")
                    .inputs(fused.input(0), addend).value();
            steeredInput.setType(target.type());
            fused.setInput(0, steeredInput);
            return;
        }
        List<Use> readers = target.uses();
        Value sum = graph.op("Add").name("/onnx_steer/" + site.name() + "/Add").inputs(target, addend)
                .outputs(target.name() + "_steered").value();
        sum.setType(target.type());
        rewire(site, target, readers, sum);
    }

    /** Moves {@code readers} of {@code target} (and a graph output that is {@code target}) to {@code steered}. */
    private static void rewire(Site site, Value target, List<Use> readers, Value steered) {
        Graph graph = site.graph();
        for (Use use : readers) {
            use.node().setInput(use.index(), steered);
        }
        if (target.isGraphOutput()) {
            for (int i = 0; i < graph.outputs().size(); i++) {
                if (graph.outputs().get(i) == target) {
                    graph.setOutput(i, steered);
                }
            }
            if (graph.parent() == null) {
                steered.swapNames(target);
            }
        }
    }

    private static Applied foldIntoBias(Step step) {
        Steering steering = step.steering();
        Site site = step.site();
        String originalName = site.bias().initializer().name();
        String folded = addToBias(site.bias(), scaled(steering.vector(), steering.coefficient()));
        return new Applied(steering, site, Mode.BIAS, folded, null, originalName);
    }

    /**
     * Adds {@code delta} to the bias in {@code slot}; a bias that anything else can see (another reader, a
     * graph input or output) is copied first so only this slot changes. Returns the name of the edited bias.
     */
    static String addToBias(BiasSlot slot, float[] delta) {
        Value bias = slot.initializer();
        Tensor original = bias.initializer();
        // widened to float32, summed there, rounded once to the bias's own type
        float[] values = original.toFloats();
        for (int i = 0; i < values.length; i++) {
            values[i] += delta[i];
        }
        Tensor folded = Tensor.ofFloats(original.type(), original.dims(), values);
        boolean shared = bias.uses().size() > 1 || bias.isGraphInput() || bias.isGraphOutput();
        if (shared) {
            Graph owner = bias.graph();
            Value copy = owner.addInitializer(owner.names().fresh(bias.name() + ".steered"), folded);
            slot.node().setInput(slot.inputIndex(), copy);
            return copy.name();
        }
        bias.setInitializer(folded);
        return bias.name();
    }
}
