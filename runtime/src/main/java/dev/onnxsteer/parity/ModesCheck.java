package dev.onnxsteer.parity;

import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.GraphOptimization;
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
    ParityCheck ablateEquivalent(RecoveredSteering recovered, SiteMap sites, List<long[]> prompts,
            List<float[]> actual, double actualInt8Noise) {
        List<Steering> writes = IndependentCheck.cuts(recovered, sites).stream().map(IndependentCheck.Cut::steering)
                .toList();
        Path ablated = staging.compile("ablate-writes", writes, Mode.ADD, SteerOptions.of(SteerOp.ABLATE));
        List<float[]> expected = staging.logits(ablated, prompts, GraphOptimization.DISABLE_ALL);
        double expectedNoise = staging.int8Noise("ablate-writes", ablated, expected, prompts);
        double tolerance = staging.relative(ParityHarness.INDEPENDENT_RELATIVE_TOLERANCE)
                * Math.max(1, ReferenceOps.maxAbs(expected)) + expectedNoise + actualInt8Noise;
        return ParityCheck.compare("ablate-equivalent", ReferenceOps.maxDiff(expected, actual), tolerance,
                "orthogonalized weights vs --op ablate compiled at " + writes.size()
                        + " residual writes (resid_pre.0, every attn_out and mlp_out)" + int8Detail(expectedNoise, actualInt8Noise));
    }

    /**
     * @param siteRounding what one ulp at the sites moves the logits on a 16-bit model
     *                     ({@link IndependentCheck#siteRoundingEffect}): a bias fold rounds the site once where
     *                     an Add rounds it twice, so the modes may differ by that much more
     */
    ParityCheck modes(RecoveredSteering recovered, SiteMap sites, List<long[]> prompts,
            List<float[]> steeredLogits, double steeredInt8Noise, double siteRounding) {
        List<Steering> unit = recovered.steerings();
        SteerOptions options = recovered.options();
        // a model compiled with --create-bias was given its biases, so a bias compilation of it can be made again;
        // a bias-less MatMulNBits is given one by any bias compilation
        boolean foldable = options.withBank(false).isPlainAdd() && unit.stream().allMatch(s ->
                (options.createBias() && s.kind().isSublayerInput())
                        || sites.find(s.kind(), s.layer()).stream().allMatch(site -> site.biasFoldable()
                                || BiasInputs.freeBiasInput(site) != null));
        Map<String, List<float[]>> results = new LinkedHashMap<>();
        Map<String, Double> int8Noise = new LinkedHashMap<>();
        results.put("file", steeredLogits);
        int8Noise.put("file", steeredInt8Noise);
        compileAndRun("add", staging.compile("mode-add", unit, Mode.ADD, options.withBank(false)), prompts, results, int8Noise);
        compileAndRun("input", staging.compile("mode-input", unit, Mode.INPUT, options), prompts, results, int8Noise);
        if (foldable) {
            compileAndRun("bias", staging.compile("mode-bias", unit, Mode.BIAS, options.withBank(false)), prompts, results, int8Noise);
        }
        double max = 0;
        // the pair that sets the largest difference, and the most that int8 rounding of any pair could explain
        double pairNoise = 0;
        double[] pairNoises = {0, 0};
        List<String> names = new ArrayList<>(results.keySet());
        for (int i = 0; i < names.size(); i++) {
            for (int j = i + 1; j < names.size(); j++) {
                max = Math.max(max, ReferenceOps.maxDiff(results.get(names.get(i)), results.get(names.get(j))));
                double noise = int8Noise.get(names.get(i)) + int8Noise.get(names.get(j));
                if (noise > pairNoise) {
                    pairNoise = noise;
                    pairNoises = new double[] {int8Noise.get(names.get(i)), int8Noise.get(names.get(j))};
                }
            }
        }
        // relative to the largest logit: a folded bias sums in a different order than an Add before the projection
        double tolerance = staging.relative(ParityHarness.MODES_TOLERANCE)
                * Math.max(1, ReferenceOps.maxAbs(results.get("file"))) + siteRounding + pairNoise;
        String bias = foldable ? "" : options.withBank(false).isPlainAdd()
                ? " (bias mode not applicable: a site has no foldable bias)"
                : " (bias mode not applicable: it only does add at every position)";
        return ParityCheck.compare("modes", max, tolerance, "pairwise " + names + bias
                + (options.bank() ? "; input is a one-row bank" : "")
                + (siteRounding > 0 ? String.format("; tolerance includes %.3g for one ulp at the sites", siteRounding) : "")
                + int8Detail(pairNoises[0], pairNoises[1]));
    }

    /** Runs one compilation over the prompts and measures its int8-activation noise (see {@link Int8Activations}). */
    private void compileAndRun(String name, Path compiled, List<long[]> prompts, Map<String, List<float[]>> results,
            Map<String, Double> int8Noise) {
        List<float[]> logits = staging.logits(compiled, prompts, GraphOptimization.DISABLE_ALL);
        results.put(name, logits);
        int8Noise.put(name, staging.int8Noise("mode-" + name, compiled, logits, prompts));
    }

    private String int8Detail(double expectedNoise, double actualNoise) {
        return staging.int8ActivationNodes() == 0 ? ""
                : Int8Activations.detail(staging.int8ActivationNodes(), expectedNoise, actualNoise);
    }
}
