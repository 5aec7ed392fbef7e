package dev.onnxsteer.passes;

import dev.onnxsteer.BadModelException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.ElementTypes;
import dev.onnxsteer.ir.HalfFloats;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteMap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The planning half of {@link SteerPass}: groups the steerings by site, merges several vectors for one
 * site, resolves {@link Mode#AUTO}, and checks every vector and site before any edit, so a refused
 * request leaves the model untouched. The result is one {@link Step} per site copy.
 */
final class SteerPlan {
    /**
     * One site copy to rewrite; {@code rows} holds the bank rows (one entry without a bank); {@code type}
     * is the site's element type, which every node and constant added there carries.
     */
    record Step(Steering steering, List<Steering> rows, Site site, Mode mode, DataType type) {}

    private final Mode mode;
    private final SteerOptions options;

    private SteerPlan(Mode mode, SteerOptions options) {
        this.mode = mode;
        this.options = options;
    }

    /** One step per site copy for {@code steerings} at {@code sites}; throws before any edit on a bad request. */
    static List<Step> of(SiteMap sites, List<Steering> steerings, Mode mode, SteerOptions options) {
        SteerPlan plan = new SteerPlan(mode, options);
        List<Step> steps = new ArrayList<>();
        ElementTypes types = new ElementTypes();
        for (List<Steering> group : groupBySite(steerings).values()) {
            Steering steering = options.bank() ? group.get(0) : plan.merge(group);
            for (Site site : sites.find(steering.kind(), steering.layer())) {
                DataType type = elementType(site, types);
                for (Steering row : options.bank() ? group : List.of(steering)) {
                    plan.check(row, site);
                }
                steps.add(new Step(steering, group, site, plan.resolve(site), type));
            }
        }
        if (options.bank()) {
            checkBankSizes(steps);
        }
        return steps;
    }

    /** How many distinct sites {@code steerings} name. */
    static int siteCount(List<Steering> steerings) {
        return groupBySite(steerings).size();
    }

    private static Map<String, List<Steering>> groupBySite(List<Steering> steerings) {
        Map<String, List<Steering>> bySite = new LinkedHashMap<>();
        for (Steering s : steerings) {
            bySite.computeIfAbsent(s.siteName(), k -> new ArrayList<>()).add(s);
        }
        return bySite;
    }

    private static void checkBankSizes(List<Step> steps) {
        int k = steps.isEmpty() ? 0 : steps.get(0).rows().size();
        for (Step step : steps) {
            if (step.rows().size() != k) {
                throw new BadVectorException("a bank needs the same number of vectors at every site; "
                        + steps.get(0).site().name() + " has " + k + " but " + step.site().name() + " has "
                        + step.rows().size());
            }
        }
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
        if (options.op().usesDirection() && VectorMath.norm(v) == 0) {
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
}
