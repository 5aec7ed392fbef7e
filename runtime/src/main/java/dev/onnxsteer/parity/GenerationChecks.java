package dev.onnxsteer.parity;

import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.session.GraphOptimization;
import dev.onnxsteer.session.ModelSession;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The checks that generate: KV-cached against full-recompute greedy tokens of the steered model
 * ({@code cache}), and what the steering changes against the original ({@code effect}).
 */
final class GenerationChecks {
    private final ParityStaging staging;
    private final int generateTokens;

    GenerationChecks(ParityStaging staging, int generateTokens) {
        this.staging = staging;
        this.generateTokens = generateTokens;
    }

    ParityCheck cache(Path steered, List<long[]> prompts) {
        try (ModelSession session = staging.open(steered, GraphOptimization.ALL)) {
            Generator generator = Generator.create(session, null, staging.config());
            if (!generator.layout().hasCache()) {
                return ParityCheck.skipped("cache", "the model has no KV-cache inputs; generation always recomputes");
            }
            GenerationConfig greedy = GenerationConfig.greedy(generateTokens).withEosTokenIds(List.of());
            List<Generation> cached = generator.generateIds(prompts, greedy, ExtraInputs.NONE, TokenListener.NONE);
            List<Generation> recomputed = generator.generateIds(prompts, greedy.withUseCache(false), ExtraInputs.NONE,
                    TokenListener.NONE);
            int differing = 0;
            for (int i = 0; i < prompts.size(); i++) {
                if (!Arrays.equals(cached.get(i).tokenIdArray(), recomputed.get(i).tokenIdArray())) {
                    differing++;
                }
            }
            return new ParityCheck("cache", differing == 0 ? ParityCheck.Status.PASSED : ParityCheck.Status.FAILED,
                    differing, 0, differing + " of " + prompts.size() + " prompts generate different tokens with the "
                    + "KV cache than with full recompute (" + generateTokens + " greedy tokens)");
        }
    }

    ParityCheck effect(Path steered, List<long[]> prompts) {
        GenerationConfig greedy = GenerationConfig.greedy(generateTokens).withEosTokenIds(List.of());
        ModelConfig config = staging.config();
        List<float[]> base;
        List<float[]> steeredRows;
        List<Generation> before;
        List<Generation> after;
        // one model open at a time, each used for both its logits and its greedy continuations
        try (ModelSession session = staging.open(staging.original().onnx(), GraphOptimization.ALL)) {
            base = lastRows(ParityStaging.logits(session, prompts), prompts);
            before = Generator.create(session, null, config).generateIds(prompts, greedy, ExtraInputs.NONE, TokenListener.NONE);
        }
        try (ModelSession session = staging.open(steered, GraphOptimization.ALL)) {
            steeredRows = lastRows(ParityStaging.logits(session, prompts), prompts);
            after = Generator.create(session, null, config).generateIds(prompts, greedy, ExtraInputs.NONE, TokenListener.NONE);
        }
        double kl = 0;
        for (int i = 0; i < prompts.size(); i++) {
            kl += ReferenceOps.klDivergence(steeredRows.get(i), base.get(i));
        }
        kl /= prompts.size();
        int changed = 0;
        for (int i = 0; i < prompts.size(); i++) {
            if (!Arrays.equals(before.get(i).tokenIdArray(), after.get(i).tokenIdArray())) {
                changed++;
            }
        }
        return ParityCheck.info("effect", kl, String.format(
                "mean KL(steered || original) of the next token %.6f nats; greedy continuation changed for %d of %d prompts",
                kl, changed, prompts.size()));
    }

    private static List<float[]> lastRows(List<float[]> logits, List<long[]> prompts) {
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            float[] all = logits.get(i);
            int vocab = all.length / prompts.get(i).length;
            rows.add(Arrays.copyOfRange(all, all.length - vocab, all.length));
        }
        return rows;
    }
}
