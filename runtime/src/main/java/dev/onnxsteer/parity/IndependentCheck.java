package dev.onnxsteer.parity;

import ai.onnxruntime.OnnxTensor;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.ElementTypes;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import dev.onnxsteer.passes.FusedNorms;
import dev.onnxsteer.passes.SiteCut;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.GraphOptimization;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.Tensors;
import dev.onnxsteer.sites.Site;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The independent check: the original model cut at the steered sites, with the operation applied in Java
 * ({@link ReferenceOps}) between the pieces, against the steered model's logits.
 */
final class IndependentCheck {
    private static final String CUT_INPUT = "onnx_steer.cut";
    private final ParityStaging staging;
    private double siteRoundingEffect;

    IndependentCheck(ParityStaging staging) {
        this.staging = staging;
    }

    /** A place where the independent path changes the stream, and how. */
    record Cut(Steering steering, SteerOptions options) {}

    /** The cuts that reproduce the compiled model: its sites, or for orthogonalize every residual write ablated. */
    static List<Cut> cuts(RecoveredSteering recovered, SiteMap sites) {
        List<Cut> cuts = new ArrayList<>();
        if (recovered.options().op() == SteerOp.ORTHOGONALIZE) {
            float[] r = recovered.steerings().get(0).vector();
            SteerOptions ablate = SteerOptions.of(SteerOp.ABLATE);
            cuts.add(new Cut(new Steering(SiteKind.RESID_PRE, 0, r, 1f), ablate));
            for (int layer = 0; layer < sites.layerCount(); layer++) {
                cuts.add(new Cut(new Steering(SiteKind.ATTN_OUT, layer, r, 1f), ablate));
                cuts.add(new Cut(new Steering(SiteKind.MLP_OUT, layer, r, 1f), ablate));
            }
            return cuts;
        }
        recovered.steerings().stream()
                .sorted(Comparator.comparingInt(Steering::layer).thenComparing(Steering::kind))
                .forEach(s -> cuts.add(new Cut(s, recovered.options())));
        return cuts;
    }

    /**
     * Cuts the original at every changed site in forward order and applies the operation in Java
     * between the pieces: stage k reads the changed values of sites 0..k-1 as inputs (not only the
     * last one: a cut at a sublayer input (attn_in, mlp_in) carries the sublayer's input but not the
     * residual stream, so later stages recompute the stream from the tokens) and returns site k, so
     * every path from a changed site onward sees the changed value.
     */
    ParityCheck run(RecoveredSteering recovered, Model originalModel, SiteMap sites,
            List<long[]> prompts, Twinned actual) {
        List<Cut> order = cuts(recovered, sites);
        for (Cut cut : order) {
            Steering s = cut.steering();
            List<Site> copies = sites.find(s.kind(), s.layer());
            if (copies.size() != 1 || copies.get(0).graph() != originalModel.graph()) {
                return ParityCheck.skipped("independent", s.siteName() + " lies inside If branches (merged decoder); "
                        + "the prefix/suffix cut needs sites in the main graph");
            }
            if (FusedNorms.isEmbedLayerNormSum(copies.get(0).value())) {
                return ParityCheck.skipped("independent", s.siteName() + " is inside a fused EmbedLayerNormalization; "
                        + "it cannot be cut");
            }
        }
        // Stage k reads every earlier site, steered in Java, as an input (the residual skip past a
        // sublayer site still depends on earlier sites) and returns site k (the last stage: logits).
        List<Path> stages = new ArrayList<>();
        List<Path> floatActivationStages = new ArrayList<>();
        List<String> siteNames = new ArrayList<>();
        List<DataType> siteTypes = new ArrayList<>();
        for (int k = 0; k <= order.size(); k++) {
            Model model = staging.readOriginal();
            SiteMap stageSites = SiteFinder.find(model);
            List<Value> values = new ArrayList<>();
            for (Cut cut : order) {
                values.add(site(stageSites, cut.steering()));
            }
            if (k == 0) {
                ElementTypes types = new ElementTypes();
                values.forEach(v -> siteNames.add(v.name()));
                values.forEach(v -> siteTypes.add(types.of(v).orElse(DataType.FLOAT)));
            }
            if (k < order.size()) {
                SiteCut.exposeAsOutput(model, values.get(k));
            }
            for (int j = 0; j < k; j++) {
                SiteCut.replaceWithInput(model, values.get(j), CUT_INPUT + "." + j, ValueType.Tensor.of(siteTypes.get(j),
                        Dim.param("batch_size"), Dim.param("sequence_length"), Dim.of(stageSites.hiddenSize())));
            }
            stages.add(staging.stage("stage" + k, model));
            if (staging.int8ActivationNodes() > 0) {
                Int8Activations.useFloatActivations(model);
                floatActivationStages.add(staging.stage("stage" + k + "-float-activations", model));
            }
        }
        List<float[]> shipped = runStages(stages, order, prompts, siteNames, siteTypes, false);
        // the tolerance is the float one, measured where the rewrite is proved: on the float-activation twins
        boolean twinned = staging.int8ActivationNodes() > 0;
        List<Path> floatStages = twinned ? floatActivationStages : stages;
        Twinned expected = twinned
                ? new Twinned(shipped, runStages(floatStages, order, prompts, siteNames, siteTypes, false))
                : Twinned.untwinned(shipped);
        double tolerance = staging.relative(ParityHarness.INDEPENDENT_RELATIVE_TOLERANCE)
                * Math.max(1, ReferenceOps.maxAbs(expected.floatActivations()));
        // On a 16-bit model the steered graph may round a site once where the Java path rounds twice (c*v
        // folded into a float16 bias is added inside the projection, before its one rounding), so the two
        // can differ by one unit in the last place of the site's own magnitude, which can exceed the
        // logits' and is amplified by the layers after it: allow what that one ulp at every cut does.
        String oneUlp = "";
        if (siteTypes.stream().anyMatch(t -> t == DataType.FLOAT16 || t == DataType.BFLOAT16)) {
            double ulpEffect = ReferenceOps.maxDiff(expected.floatActivations(),
                    runStages(floatStages, order, prompts, siteNames, siteTypes, true));
            tolerance += ulpEffect;
            siteRoundingEffect = ulpEffect;
            oneUlp = String.format("; tolerance includes %.3g, what one %s ulp at the cut moves the logits",
                    ulpEffect, siteTypes.get(0).name().toLowerCase());
        }
        SteerOptions options = recovered.options();
        String what = options.op() == SteerOp.ORTHOGONALIZE ? "every residual write ablated in Java"
                : options.op().label() + (options.preserveNorm() ? " (norm-preserving)" : "") + " applied in Java at "
                        + options.positions() + " positions";
        return Int8Activations.compare("independent", staging.int8ActivationNodes(), expected, actual, tolerance,
                "original cut at " + order.stream().map(c -> c.steering().siteName()).toList() + " with " + what
                        + " vs the steered model" + oneUlp);
    }

    /**
     * After {@link #run} on a 16-bit model: how far one ulp at every cut moved the logits (the rounding a
     * bias fold may do differently from an Add); 0 on wider types or when the check was skipped.
     */
    double siteRoundingEffect() {
        return siteRoundingEffect;
    }

    /**
     * Runs the stages in order on each prompt, applying the operation in Java at each cut, and returns the
     * logits. {@code nudged}: each steered site value is also moved one ulp of its type away from zero.
     */
    private List<float[]> runStages(List<Path> stages, List<Cut> order, List<long[]> prompts, List<String> siteNames,
            List<DataType> siteTypes, boolean nudged) {
        List<List<Forward.Output>> carried = new ArrayList<>();
        prompts.forEach(p -> carried.add(new ArrayList<>()));
        List<float[]> logits = new ArrayList<>();
        for (int k = 0; k <= order.size(); k++) {
            try (ModelSession session = staging.open(stages.get(k), GraphOptimization.DISABLE_ALL)) {
                for (int p = 0; p < prompts.size(); p++) {
                    long[] prompt = prompts.get(p);
                    List<Forward.Output> before = carried.get(p);
                    Map<String, OnnxTensor> extra = new LinkedHashMap<>();
                    try {
                        for (int j = 0; j < k; j++) {
                            extra.put(CUT_INPUT + "." + j, Tensors.floats(Tensors.javaType(siteTypes.get(j)),
                                    before.get(j).values(), before.get(j).shape()));
                        }
                        if (k < order.size()) {
                            Forward.Output site = Forward.run(session, prompt, extra, List.of(siteNames.get(k)))
                                    .get(siteNames.get(k));
                            Cut cut = order.get(k);
                            Forward.Output steered = ReferenceOps.apply(site, cut.steering(), cut.options(),
                                    ParityStaging.promptLength(prompt));
                            before.add(nudged ? ReferenceOps.nextUlpAwayFromZero(steered, siteTypes.get(k)) : steered);
                        } else {
                            logits.add(Forward.run(session, prompt, extra, List.of("logits")).get("logits").values());
                        }
                    } finally {
                        extra.values().forEach(OnnxTensor::close);
                    }
                }
            }
        }
        return logits;
    }

    private static Value site(SiteMap sites, Steering steering) {
        return sites.find(steering.kind(), steering.layer()).get(0).value();
    }
}
