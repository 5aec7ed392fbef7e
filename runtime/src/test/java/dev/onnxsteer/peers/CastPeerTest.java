package dev.onnxsteer.peers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Condition;
import dev.onnxsteer.passes.ConditionPass;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The independent check of conditional steering: {@code peers/torch/cast_peer.py} exports a seeded
 * llama with torch.onnx and runs IBM activation-steering's condition as PyTorch forward hooks (decide on
 * the prompt at the condition layer with {@code cos(h, tanh(P h))}, then add {@code c*v} at the behaviour
 * layer to the rows that met it). Compiled by us with the same vectors and threshold, one batch mixing
 * rows that fire and rows that do not gives the hooks' per-row decisions and greedy tokens, for a mean
 * aggregate firing above and a last-token aggregate firing below. (The export has no KV cache, which the
 * generator's conditional models need, so the test decodes by full recompute itself.)
 */
class CastPeerTest {
    private static final int NEW_TOKENS = 8;

    @TempDir
    Path temp;

    @Test
    void compiledConditionDecidesAndSteersAsTheHooksDo() throws Exception {
        JsonNode cast = TorchPeer.exportCast(temp.resolve("export"));
        ModelFiles files = ModelFiles.locate(temp.resolve("export"), null);
        List<long[]> prompts = new ArrayList<>();
        for (JsonNode row : cast.get("prompts")) {
            prompts.add(TorchPeer.longs(row));
        }
        float[] behaviour = floats(cast.get("behaviour"));
        Steering steering = new Steering(SiteKind.RESID_POST, cast.get("behaviour_layer").asInt(), behaviour,
                (float) cast.get("coefficient").asDouble());
        List<List<Long>> baseline = tokens(cast.get("baseline"));
        for (JsonNode scenario : cast.get("scenarios")) {
            String label = scenario.get("aggregate").asText() + " " + scenario.get("comparator").asText();
            assertTrue(scenario.get("threshold_margin").asDouble() > 1e-4, label + ": no similarity sits on the threshold");
            Condition condition = new Condition(SiteKind.RESID_POST,
                    Map.of(scenario.get("condition_layer").asInt(), floats(scenario.get("condition"))),
                    (float) scenario.get("threshold").asDouble(), Condition.Comparator.parse(scenario.get("comparator")
                    .asText()), Condition.Aggregate.parse(scenario.get("aggregate").asText()));
            Model compiled = Compilation.compile(files, sites -> List.of(steering), Mode.ADD, SteerOptions.ADD,
                    List.of(new ConditionPass(condition))).model();
            Map<Integer, Boolean> decided = new TreeMap<>();
            List<List<Long>> generated = generate(compiled, prompts, decided);
            List<List<Long>> expected = tokens(scenario.get("tokens"));
            int fired = 0;
            for (int r = 0; r < prompts.size(); r++) {
                boolean met = scenario.get("met").get(r).asBoolean();
                fired += met ? 1 : 0;
                assertEquals(met, decided.get(r), label + ": row " + r + "'s decision (similarity "
                        + scenario.get("similarities").get(r).asDouble() + ", threshold " + scenario.get("threshold") + ")");
                assertEquals(expected.get(r), generated.get(r), label + ": row " + r + "'s tokens");
                if (met) {
                    assertNotEquals(baseline.get(r), expected.get(r), label + ": the behaviour changes row " + r);
                } else {
                    assertEquals(baseline.get(r), expected.get(r), label + ": a row that does not fire is unsteered");
                }
            }
            assertTrue(fired > 0 && fired < prompts.size(), label + ": the batch mixes rows that fire and rows that do not");
        }
    }

    /**
     * Greedy decoding by full recompute, written here: the export has no KV cache, so every step feeds the
     * whole sequence with an empty condition past and the prompt's length, as a recompute does.
     */
    private static List<List<Long>> generate(Model model, List<long[]> prompts, Map<Integer, Boolean> decided)
            throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int batch = prompts.size();
        int promptLength = prompts.get(0).length;
        List<List<Long>> out = new ArrayList<>();
        long[][] rows = new long[batch][];
        for (int r = 0; r < batch; r++) {
            rows[r] = prompts.get(r).clone();
            out.add(new ArrayList<>());
        }
        try (ModelSession session = SessionFactory.open(model, "cast peer export", SessionConfig.cpu())) {
            for (int step = 0; step < NEW_TOKENS; step++) {
                int t = rows[0].length;
                long[] ids = new long[batch * t];
                for (int r = 0; r < batch; r++) {
                    System.arraycopy(rows[r], 0, ids, r * t, t);
                }
                long[] ones = new long[batch * t];
                Arrays.fill(ones, 1);
                long[] lengths = new long[batch];
                Arrays.fill(lengths, promptLength);
                try (OnnxTensor idsTensor = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {batch, t});
                        OnnxTensor mask = OnnxTensor.createTensor(env, LongBuffer.wrap(ones), new long[] {batch, t});
                        OnnxTensor past = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), new long[] {batch, 0});
                        OnnxTensor length = OnnxTensor.createTensor(env, LongBuffer.wrap(lengths), new long[] {batch});
                        OrtSession.Result result = session.ort().run(Map.of("input_ids", idsTensor, "attention_mask", mask,
                                CompiledModelAbi.CONDITION_PAST, past, CompiledModelAbi.PROMPT_LENGTH_INPUT, length))) {
                    float[][][] logits = (float[][][]) result.get("logits").orElseThrow().getValue();
                    float[][] present = (float[][]) result.get(CompiledModelAbi.CONDITION_PRESENT).orElseThrow().getValue();
                    for (int r = 0; r < batch; r++) {
                        if (step == 0) {
                            decided.put(r, present[r][0] > 0.5f);
                        }
                        float[] last = logits[r][t - 1];
                        int best = 0;
                        for (int v = 1; v < last.length; v++) {
                            best = last[v] > last[best] ? v : best;
                        }
                        out.get(r).add((long) best);
                        rows[r] = Arrays.copyOf(rows[r], t + 1);
                        rows[r][t] = best;
                    }
                }
            }
        }
        return out;
    }

    private static float[] floats(JsonNode array) {
        float[] out = new float[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) array.get(i).asDouble();
        }
        return out;
    }

    private static List<List<Long>> tokens(JsonNode rows) {
        List<List<Long>> out = new ArrayList<>();
        for (JsonNode row : rows) {
            out.add(Arrays.stream(TorchPeer.longs(row)).boxed().toList());
        }
        return out;
    }
}
