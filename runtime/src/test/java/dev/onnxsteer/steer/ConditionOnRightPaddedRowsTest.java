package dev.onnxsteer.steer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
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
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * A compiled condition on a GroupQueryAttention graph, whose batches are right-padded: the pad positions of a
 * shorter row hold whatever the kernel left there (GroupQueryAttention does not write them), and a condition that
 * multiplied them by a zero weight read NaN for some batches. Each row's decision and tokens must be the same in a
 * batch with longer rows as alone.
 */
class ConditionOnRightPaddedRowsTest {
    private static final List<long[]> PROMPTS = List.of(new long[] {5, 17, 30, 42, 7, 9, 11, 60, 3}, new long[] {99, 1},
            new long[] {7, 8, 9}, new long[] {40, 41, 42, 43, 44, 45}, new long[] {2});
    private static final GenerationConfig GREEDY = GenerationConfig.greedy(6).withEosTokenIds(List.of(-1L));

    @Test
    void decisionsAndTokensOfRightPaddedRowsEqualEachRowAlone() throws Exception {
        ModelFiles source = ModelFiles.locate(TestPaths.testdata().resolve("llama-tiny-genai"), null);
        ModelConfig config = ModelConfig.load(source.directory());
        Steering behaviour = new Steering(SiteKind.RESID_POST, 2, OperationsTest.randomVector(32, 3), 8f);
        float[] direction = OperationsTest.randomVector(32, 4);
        boolean mixed = false;
        for (float threshold : new float[] {0f, 0.05f, -0.05f, 0.1f, -0.1f, 0.2f, -0.2f}) {
            Condition condition = new Condition(SiteKind.RESID_POST, Map.of(0, direction), threshold,
                    Condition.Comparator.ABOVE, Condition.Aggregate.MEAN);
            Model compiled = Compilation.compile(source, sites -> List.of(behaviour), Mode.ADD, SteerOptions.ADD,
                    List.of(new ConditionPass(condition))).model();
            try (ModelSession session = SessionFactory.open(compiled, "conditional llama-tiny-genai", SessionConfig.cpu())) {
                Generator generator = Generator.create(session, null, config);
                Map<Integer, Boolean> together = new TreeMap<>();
                List<Generation> batch = generator.generateIds(PROMPTS, GREEDY, ExtraInputs.NONE, decisions(together, 0));
                Map<Integer, Boolean> alone = new TreeMap<>();
                for (int r = 0; r < PROMPTS.size(); r++) {
                    Generation single = generator.generateIds(List.of(PROMPTS.get(r)), GREEDY, ExtraInputs.NONE,
                            decisions(alone, r)).get(0);
                    assertTrue(Arrays.equals(single.tokenIdArray(), batch.get(r).tokenIdArray()),
                            "threshold " + threshold + ", row " + r + ": " + Arrays.toString(batch.get(r).tokenIdArray())
                            + " in the batch, " + Arrays.toString(single.tokenIdArray()) + " alone");
                }
                assertEquals(alone, together, "threshold " + threshold + ": each row's decision in the batch and alone");
                mixed |= together.containsValue(true) && together.containsValue(false);
            }
        }
        assertTrue(mixed, "some threshold mixes rows that fire and rows that do not");
    }

    private static TokenListener decisions(Map<Integer, Boolean> into, int rowOffset) {
        return new TokenListener() {
            @Override
            public void onToken(int row, long tokenId, String textPiece) {}

            @Override
            public void onCondition(int row, boolean met) {
                into.put(rowOffset + row, met);
            }
        };
    }
}
