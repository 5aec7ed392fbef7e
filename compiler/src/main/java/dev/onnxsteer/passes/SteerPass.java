package dev.onnxsteer.passes;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Adds {@code c * v} at each requested site, in one of three ways (see {@link Mode}). Every site
 * copy is rewritten (both branches of a merged decoder's If). All checks run before the first
 * edit, so a refused request leaves the model untouched.
 */
public final class SteerPass implements Pass {
    /**
     * What was done at one site copy. {@code tensor} names the initializer that now carries the
     * change (the added vector, the vector input's default, or the folded bias); in input mode
     * {@code coefficientTensor} names the coefficient input; in bias mode {@code originalBias} names
     * the bias as it was in the source model.
     */
    public record Applied(Steering steering, Site site, Mode mode, String tensor, String coefficientTensor,
            String originalBias) {}

    private final SiteMap sites;
    private final List<Steering> steerings;
    private final Mode mode;
    private final List<Applied> applied = new ArrayList<>();
    private boolean createBias;

    public SteerPass(SiteMap sites, List<Steering> steerings, Mode mode) {
        this.sites = sites;
        this.steerings = List.copyOf(steerings);
        this.mode = mode;
    }

    /** Bias mode at attn_in/mlp_in: give a projection without a bias one (see {@link SublayerInputBias}). */
    public SteerPass creatingBiases(boolean create) {
        this.createBias = create;
        return this;
    }

    /** What the last {@link #apply} did, one entry per site copy. */
    public List<Applied> applied() {
        return List.copyOf(applied);
    }

    @Override
    public boolean apply(Model model) {
        Map<String, Steering> merged = mergeBySite();
        List<Applied> plan = new ArrayList<>();
        for (Steering steering : merged.values()) {
            for (Site site : sites.find(steering.kind(), steering.layer())) {
                check(steering, site);
                plan.add(new Applied(steering, site, resolve(site), null, null, null));
            }
        }
        applied.clear();
        for (Applied step : plan) {
            applied.add(switch (step.mode()) {
                case BIAS -> step.site().kind().isSublayerInput()
                        ? SublayerInputBias.fold(model, step, createBias) : foldIntoBias(step);
                case INPUT -> addFromInputs(model, step);
                default -> addConstant(model, step);
            });
        }
        model.graph().sortTopologically();
        return !plan.isEmpty();
    }

    /** Several vectors for one site become one: the sum of each times its coefficient. */
    private Map<String, Steering> mergeBySite() {
        Map<String, Steering> bySite = new LinkedHashMap<>();
        for (Steering s : steerings) {
            Steering previous = bySite.get(s.siteName());
            if (previous == null) {
                bySite.put(s.siteName(), s);
                continue;
            }
            if (previous.vector().length != s.vector().length) {
                throw new BadVectorException("two vectors for " + s.siteName() + " have different sizes: "
                        + previous.vector().length + " and " + s.vector().length);
            }
            float[] sum = new float[s.vector().length];
            for (int i = 0; i < sum.length; i++) {
                sum[i] = previous.coefficient() * previous.vector()[i] + s.coefficient() * s.vector()[i];
            }
            bySite.put(s.siteName(), new Steering(s.kind(), s.layer(), sum, 1f));
        }
        return bySite;
    }

    private Mode resolve(Site site) {
        if (mode == Mode.AUTO) {
            return site.biasFoldable() ? Mode.BIAS : Mode.ADD;
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
        if (!Float.isFinite(steering.coefficient())) {
            throw new IllegalArgumentException("coefficient for " + site.name() + " is " + steering.coefficient()
                    + "; expected a finite number");
        }
        if (FusedNorms.isEmbedLayerNormSum(site.value()) && resolve(site) != Mode.BIAS) {
            throw new IllegalArgumentException(site.name() + " is computed inside a fused EmbedLayerNormalization that also "
                    + "normalises it, so it cannot be steered by adding after the node; steer resid_pre.1 or a later site, "
                    + "or use an unfused export");
        }
        ValueType.Tensor type = site.value().tensorType();
        if (type != null && type.elementType() != DataType.FLOAT) {
            throw new BadModelException("site " + site.name() + " is " + type.elementType().label()
                    + "; only float32 sites can be steered");
        }
        if (resolve(site) == Mode.BIAS && site.kind().isSublayerInput()) {
            SublayerInputBias.check(site, createBias);
        } else if (resolve(site) == Mode.BIAS) {
            if (!site.biasFoldable()) {
                throw new IllegalArgumentException("--mode bias: " + site.name() + " is not produced through a bias "
                        + "initializer (its sublayer output has no MatMul + Add(bias)); use --mode add");
            }
            Tensor bias = site.bias().initializer().initializer();
            if (bias.type() != DataType.FLOAT || bias.elementCount() != site.hiddenSize()) {
                throw new IllegalArgumentException("--mode bias: the bias " + site.bias().initializer() + " of "
                        + site.name() + " is " + bias + ", expected float[" + site.hiddenSize() + "]; use --mode add");
            }
        }
    }

    private static float[] scaled(Steering steering) {
        float[] out = new float[steering.vector().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = steering.coefficient() * steering.vector()[i];
        }
        return out;
    }

    private Applied addConstant(Model model, Applied step) {
        Site site = step.site();
        Graph root = model.graph();
        Value vector = root.addInitializer(root.names().fresh("onnx_steer." + site.name() + ".add"),
                Tensor.ofFloats(new long[] {site.hiddenSize()}, scaled(step.steering())));
        insertAdd(site, vector);
        return new Applied(step.steering(), site, Mode.ADD, vector.name(), null, null);
    }

    private Applied addFromInputs(Model model, Applied step) {
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
            vector.setType(ValueType.Tensor.of(DataType.FLOAT, Dim.param("steer_batch"), Dim.of(site.hiddenSize())));
            root.addInput(vector);
            coefficient = root.addInitializer(base + ".coefficient", Tensor.scalar(steering.coefficient()));
            root.addInput(coefficient);
        }
        String scope = "/onnx_steer/" + site.name() + "/";
        Value scaledVector = graph.op("Mul").name(scope + "Mul").inputs(vector, coefficient).value();
        Value perRow = Unsqueeze.axis(model, graph, scope + "Unsqueeze", scaledVector, 1);
        insertAdd(site, perRow);
        return new Applied(steering, site, Mode.INPUT, vector.name(), coefficient.name(), null);
    }

    /** Adds {@code addend} to the site value and moves every reader of the site to the sum. */
    private static void insertAdd(Site site, Value addend) {
        Value target = site.value();
        Graph graph = site.graph();
        if (FusedNorms.isSkipLayerNormSum(target)) {
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
        for (Use use : readers) {
            use.node().setInput(use.index(), sum);
        }
        if (target.isGraphOutput()) {
            for (int i = 0; i < graph.outputs().size(); i++) {
                if (graph.outputs().get(i) == target) {
                    graph.setOutput(i, sum);
                }
            }
            if (graph.parent() == null) {
                sum.swapNames(target);
            }
        }
    }

    private static Applied foldIntoBias(Applied step) {
        Steering steering = step.steering();
        Site site = step.site();
        BiasSlot slot = site.bias();
        Value bias = slot.initializer();
        float[] values = bias.initializer().toFloats();
        float[] add = scaled(steering);
        for (int i = 0; i < values.length; i++) {
            values[i] += add[i];
        }
        Tensor folded = Tensor.ofFloats(bias.initializer().dims(), values);
        boolean shared = bias.uses().size() > 1 || bias.isGraphInput() || bias.isGraphOutput();
        String originalName = bias.name();
        if (shared) {
            Graph owner = bias.graph();
            Value copy = owner.addInitializer(owner.names().fresh(bias.name() + ".steered"), folded);
            slot.node().setInput(slot.inputIndex(), copy);
            return new Applied(steering, site, Mode.BIAS, copy.name(), null, originalName);
        }
        bias.setInitializer(folded);
        return new Applied(steering, site, Mode.BIAS, bias.name(), null, originalName);
    }
}
