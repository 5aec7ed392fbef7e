package dev.onnxsteer.passes;

import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteMap;
import java.util.ArrayList;
import java.util.List;

/**
 * Changes the residual stream at each requested site: {@code x + c v} by default, or another
 * {@link SteerOp} restricted to some {@link Positions} and optionally norm-preserving (see
 * {@link SteerOptions}), in one of three ways (see {@link Mode}). Every site copy is rewritten (both
 * branches of a merged decoder's If). All checks run before the first edit ({@link SteerPlan}), so a
 * refused request leaves the model untouched. The operands are {@link SteerOperands}, the operation's
 * nodes {@link SteerGraphs}, bias folds {@link BiasFold} and {@link SublayerInputBias}. Weight
 * orthogonalisation is {@link OrthogonalizePass}, not this pass.
 */
public final class SteerPass implements Pass {
    /** Input names of the compiled-model contract, kept here for callers written before {@link CompiledModelAbi}. */

    /**
     * What was done at one site copy. {@code tensor} names the initializer that now carries the
     * change (the added {@code c*v}, for clamp {@code c*r}; the vector input's default; the bank
     * input's default; or the folded bias), null for ablate; {@code directionTensor} names the unit
     * direction r of a direction-using op with constant operands; in input mode
     * {@code coefficientTensor} names the coefficient input ({@value CompiledModelAbi#SCALE_INPUT} with a bank);
     * in bias mode {@code originalBias} names the bias as it was in the source model.
     */
    public record Applied(Steering steering, Site site, Mode mode, String tensor, String coefficientTensor,
            String originalBias, SteerOptions options, String directionTensor) {
        public Applied(Steering steering, Site site, Mode mode, String tensor, String coefficientTensor,
                String originalBias) {
            this(steering, site, mode, tensor, coefficientTensor, originalBias, SteerOptions.ADD, null);
        }
    }

    private final SiteMap sites;
    private final List<Steering> steerings;
    private final Mode mode;
    private final SteerOptions options;
    private final List<Applied> applied = new ArrayList<>();

    public SteerPass(SiteMap sites, List<Steering> steerings, Mode mode) {
        this(sites, steerings, mode, SteerOptions.ADD);
    }

    public SteerPass(SiteMap sites, List<Steering> steerings, Mode mode, SteerOptions options) {
        this.sites = sites;
        this.steerings = List.copyOf(steerings);
        this.mode = mode;
        this.options = options;
    }

    /** What the last {@link #run} did, one entry per site copy. */
    public List<Applied> applied() {
        return List.copyOf(applied);
    }

    @Override
    public PassResult run(Model model) {
        if (options.op() == SteerOp.ORTHOGONALIZE) {
            throw new IllegalArgumentException("orthogonalize rewrites weights; use OrthogonalizePass (Compilation does)");
        }
        if (options.bank() && mode != Mode.INPUT) {
            throw new IllegalArgumentException("a vector bank is a set of graph inputs; it needs --mode input, not --mode "
                    + mode.label());
        }
        PositionMask masks = new PositionMask(model, options.positions());
        masks.check();
        List<SteerPlan.Step> plan = SteerPlan.of(sites, steerings, mode, options);
        applied.clear();
        boolean several = SteerPlan.siteCount(steerings) > 1;
        SteerGraphs graphs = new SteerGraphs(model, options, masks);
        for (SteerPlan.Step step : plan) {
            applied.add(switch (step.mode()) {
                case BIAS -> step.site().kind().isSublayerInput()
                        ? new SublayerInputBias(step.steering(), step.site(), options.createBias()).fold(model)
                        : step.site().bias() == null ? QuantisedBias.fold(step.steering(), step.site())
                        : BiasFold.fold(step.steering(), step.site());
                case INPUT -> rewrite(step, graphs, options.bank() ? SteerOperands.bank(model, step, several)
                        : SteerOperands.inputs(model, step, options.op(), graphs));
                default -> rewrite(step, graphs, SteerOperands.constants(model, step, options.op()));
            });
        }
        model.graph().sortTopologically();
        if (plan.isEmpty()) {
            return PassResult.unchanged("no site to steer");
        }
        return PassResult.changed(options.op().label() + " at " + plan.size() + " site cop"
                + (plan.size() == 1 ? "y" : "ies") + " (" + SteerPlan.describe(options) + ", mode " + mode.label() + ")");
    }

    private Applied rewrite(SteerPlan.Step step, SteerGraphs graphs, SteerOperands operands) {
        graphs.apply(step.site(), operands, step.type());
        return new Applied(step.steering(), step.site(), step.mode(), operands.tensor(), operands.coefficientTensor(), null,
                options, operands.directionTensor());
    }
}
