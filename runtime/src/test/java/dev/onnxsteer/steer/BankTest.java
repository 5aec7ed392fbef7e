package dev.onnxsteer.steer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A vector bank gives each row of one batch its own vector and strength: a batch of 4 prompts with
 * 4 different (vector, scale) choices generates, row by row, the tokens of 4 separate runs of models
 * compiled with plain add of that vector times that scale (the unsteered model for scale 0).
 */
class BankTest {
    @TempDir
    Path temp;

    static final List<long[]> PROMPTS = List.of(new long[] {5, 17, 30, 42}, new long[] {99, 1}, new long[] {7, 8, 9},
            new long[] {64});
    static final List<SteeredSession.Choice> CHOICES = List.of(SteeredSession.Choice.of(0, 4f),
            SteeredSession.Choice.of(2, -3f), SteeredSession.Choice.UNSTEERED, SteeredSession.Choice.of(1, 6f));

    @ParameterizedTest
    @ValueSource(strings = {"llama-tiny", "gpt2-tiny", "llama-tiny-nopast"})
    void batchOfFourChoicesEqualsFourSeparateRuns(String fixture) {
        ModelFiles source = ModelFiles.locate(dev.onnxsteer.TestPaths.testdata().resolve(fixture), null);
        long hidden = SiteFinder.find(ModelReader.read(source.onnx())).hiddenSize();
        List<float[]> bank = List.of(OperationsTest.randomVector(hidden, 21), OperationsTest.randomVector(hidden, 22),
                OperationsTest.randomVector(hidden, 23));
        List<Steering> rows = new ArrayList<>();
        for (int layer : new int[] {1, 2}) {
            for (float[] v : bank) {
                rows.add(new Steering(SiteKind.RESID_POST, layer, v, 1f));
            }
        }
        Path banked = temp.resolve("bank");
        Compilation.compileTo(source, rows, Mode.INPUT, SteerOptions.ADD.withBank(true), banked);
        GenerationConfig greedy = GenerationConfig.greedy(8).withEosTokenIds(List.of());

        List<Generation> batched;
        try (SteeredSession steered = SteeredSession.open(banked.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu())) {
            assertEquals(3, steered.bankSize());
            assertEquals(List.of("steer_bank.resid_post.1", "steer_bank.resid_post.2"), steered.bankInputs());
            Generator generator = Generator.create(steered.session(), null, ModelConfig.EMPTY);
            batched = steered.generateIds(generator, PROMPTS, CHOICES, greedy, TokenListener.NONE);

            IllegalArgumentException outOfRange = assertThrows(IllegalArgumentException.class,
                    () -> steered.rows(List.of(SteeredSession.Choice.of(3, 1f))));
            assertTrue(outOfRange.getMessage().contains("bank vector 3")
                    && outOfRange.getMessage().contains("valid indices 0-2"), outOfRange.getMessage());
            assertThrows(IllegalArgumentException.class, () -> steered.rows(List.of(SteeredSession.Choice.of(-1, 1f))));
        }
        for (int i = 0; i < PROMPTS.size(); i++) {
            SteeredSession.Choice choice = CHOICES.get(i);
            List<Steering> single = new ArrayList<>();
            for (int layer : new int[] {1, 2}) {
                single.add(new Steering(SiteKind.RESID_POST, layer, bank.get((int) choice.index()), choice.scale()));
            }
            Path alone = temp.resolve("alone" + i);
            Compilation.compileTo(source, single, Mode.ADD, alone);
            try (ModelSession session = SessionFactory.open(alone.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu())) {
                Generation expected = Generator.create(session, null, ModelConfig.EMPTY)
                        .generateIds(List.of(PROMPTS.get(i)), greedy, ExtraInputs.NONE, TokenListener.NONE).get(0);
                assertArrayEquals(expected.tokenIdArray(), batched.get(i).tokenIdArray(), fixture + " row " + i);
            }
        }
        assertNotEquals(List.of(batched.get(0).tokenIds()), List.of(batched.get(2).tokenIds()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"prompt", "generated", "first:3", "from:2"})
    void bankWithPositionsMatchesSeparateRunsWithAndWithoutCache(String positions) {
        ModelFiles source = ModelFiles.locate(dev.onnxsteer.TestPaths.testdata().resolve("llama-tiny"), null);
        List<Steering> rows = List.of(new Steering(SiteKind.RESID_POST, 1, OperationsTest.randomVector(32, 31), 1f),
                new Steering(SiteKind.RESID_POST, 1, OperationsTest.randomVector(32, 32), 1f));
        Path banked = temp.resolve("bank");
        Compilation.compileTo(source, rows, Mode.INPUT, SteerOptions.ADD.withBank(true)
                .withPositions(Positions.parse(positions)), banked);
        GenerationConfig greedy = GenerationConfig.greedy(8).withEosTokenIds(List.of());
        List<SteeredSession.Choice> choices = List.of(SteeredSession.Choice.of(1, 5f), SteeredSession.Choice.of(0, -4f),
                SteeredSession.Choice.UNSTEERED, SteeredSession.Choice.of(1, 2f));
        try (SteeredSession steered = SteeredSession.open(banked.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu())) {
            Generator generator = Generator.create(steered.session(), null, ModelConfig.EMPTY);
            List<Generation> cached = steered.generateIds(generator, PROMPTS, choices, greedy, TokenListener.NONE);
            List<Generation> recomputed = steered.generateIds(generator, PROMPTS, choices, greedy.withUseCache(false),
                    TokenListener.NONE);
            for (int i = 0; i < PROMPTS.size(); i++) {
                assertArrayEquals(cached.get(i).tokenIdArray(), recomputed.get(i).tokenIdArray(), "row " + i);
                List<Generation> alone = steered.generateIds(generator, List.of(PROMPTS.get(i)), List.of(choices.get(i)),
                        greedy, TokenListener.NONE);
                assertArrayEquals(alone.get(0).tokenIdArray(), cached.get(i).tokenIdArray(), "row " + i + " alone");
            }
        }
    }

    @org.junit.jupiter.api.Test
    void aModelWithoutABankIsRefusedClearly() {
        ModelFiles source = ModelFiles.locate(dev.onnxsteer.TestPaths.testdata().resolve("llama-tiny"), null);
        Path out = temp.resolve("plain");
        Compilation.compileTo(source, List.of(new Steering(SiteKind.RESID_POST, 1, OperationsTest.randomVector(32, 1), 1f)),
                Mode.ADD, SteerOptions.of(SteerOp.ABLATE), out);
        var e = assertThrows(dev.onnxsteer.BadModelException.class,
                () -> SteeredSession.open(out.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu()));
        assertTrue(e.getMessage().contains("--mode input --bank"), e.getMessage());
    }
}
