package dev.onnxsteer.parity;

import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.BiasInputs;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The checks that compile the same steering again in other ways and compare logits: add, input and bias
 * modes against each other and the file ({@code modes}), and for orthogonalize an in-graph ablation at every
 * residual write ({@code ablate-equivalent}).
 */
final class ModesCheck {
    private final ParityStaging staging;

    ModesCheck(ParityStaging staging) {
        this.staging = staging;
    }

    /** Orthogonalize vs an in-graph ablation of the same direction at every residual write. */
    ParityCheck ablateEquivalent(RecoveredSteering recovered, SiteMap sites, List<long[]> prompts, Twinned actual) {
        List<Steering> writes = IndependentCheck.cuts(recovered, sites).stream().map(IndependentCheck.Cut::steering)
                .toList();
        Path ablated = staging.compile("ablate-writes", writes, Mode.ADD, SteerOptions.of(SteerOp.ABLATE));
        Twinned expected = staging.twinnedLogits("ablate-writes", ablated, prompts);
        double tolerance = staging.relative(ParityHarness.INDEPENDENT_RELATIVE_TOLERANCE)
                * Math.max(1, ReferenceOps.maxAbs(expected.floatActivations()));
        return Int8Activations.compare("ablate-equivalent", staging.int8ActivationNodes(), expected, actual, tolerance,
                "orthogonalized weights vs --op ablate compiled at " + writes.size()
                        + " residual writes (resid_pre.0, every attn_out and mlp_out)");
    }

    /**
     * @param siteRounding what one ulp at the sites moves the logits on a 16-bit model
     *                     ({@link IndependentCheck#siteRoundingEffect}): a bias fold rounds the site once where
     *                     an Add rounds it twice, so the modes may differ by that much more
     */
    ParityCheck modes(RecoveredSteering recovered, SiteMap sites, List<long[]> prompts,
            Twinned steeredLogits, double siteRounding) {
        List<Steering> unit = recovered.steerings();
        SteerOptions options = recovered.options();
        // a model compiled with --create-bias was given its biases, so a bias compilation of it can be made again;
        // a bias-less MatMulNBits is given one by any bias compilation
        boolean foldable = options.withBank(false).isPlainAdd() && unit.stream().allMatch(s ->
                (options.createBias() && s.kind().isSublayerInput())
                        || sites.find(s.kind(), s.layer()).stream().allMatch(site -> site.biasFoldable()
                                || BiasInputs.freeBiasInput(site) != null));
        Map<String, Twinned> results = new LinkedHashMap<>();
        results.put("file", steeredLogits);
        results.put("add", staging.twinnedLogits("mode-add", staging.compile("mode-add", unit, Mode.ADD,
                options.withBank(false)), prompts));
        results.put("input", staging.twinnedLogits("mode-input", staging.compile("mode-input", unit, Mode.INPUT,
                options), prompts));
        if (foldable) {
            results.put("bias", staging.twinnedLogits("mode-bias", staging.compile("mode-bias", unit, Mode.BIAS,
                    options.withBank(false)), prompts));
        }
        // the largest pairwise difference as shipped and between the float-activation twins, and the most
        // that int8 rounding of any pair could explain
        double shipped = 0;
        double twins = 0;
        double pairNoise = 0;
        double[] pairNoises = {0, 0};
        List<String> names = new ArrayList<>(results.keySet());
        for (int i = 0; i < names.size(); i++) {
            for (int j = i + 1; j < names.size(); j++) {
                Twinned a = results.get(names.get(i));
                Twinned b = results.get(names.get(j));
                shipped = Math.max(shipped, ReferenceOps.maxDiff(a.shipped(), b.shipped()));
                twins = Math.max(twins, ReferenceOps.maxDiff(a.floatActivations(), b.floatActivations()));
                if (a.int8Noise() + b.int8Noise() > pairNoise) {
                    pairNoise = a.int8Noise() + b.int8Noise();
                    pairNoises = new double[] {a.int8Noise(), b.int8Noise()};
                }
            }
        }
        // relative to the largest logit: a folded bias sums in a different order than an Add before the projection
        double tolerance = staging.relative(ParityHarness.MODES_TOLERANCE)
                * Math.max(1, ReferenceOps.maxAbs(steeredLogits.floatActivations())) + siteRounding;
        String bias = foldable ? "" : options.withBank(false).isPlainAdd()
                ? " (bias mode not applicable: a site has no foldable bias)"
                : " (bias mode not applicable: it only does add at every position)";
        return Int8Activations.compare("modes", staging.int8ActivationNodes(), shipped, twins, tolerance, pairNoises[0],
                pairNoises[1], "pairwise " + names + bias + (options.bank() ? "; input is a one-row bank" : "")
                + (siteRounding > 0 ? String.format("; tolerance includes %.3g for one ulp at the sites", siteRounding) : ""));
    }
}
