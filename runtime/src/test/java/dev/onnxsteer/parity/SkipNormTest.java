package dev.onnxsteer.parity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.FusedNorms;
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
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX Runtime's fused skip norms: {@code llama-tiny-skipnorm} (SkipSimplifiedLayerNormalization doing
 * every residual Add but the embedding's) computes what {@code llama-tiny} computes, so every site,
 * steered in every op and mode, must give the unfused graph's steered tokens; at a residual sum the
 * vector has to reach the normalised output 0 the next sublayer reads as well as output 3. Parity's
 * independent path cuts the fused graph there.
 */
class SkipNormTest {
    private static final long[] PROMPT = {72, 105, 32, 116, 104, 101, 114, 101};
    private static final List<String> SITES = List.of("resid_pre.2", "resid_mid.0", "resid_mid.1", "resid_post.1",
            "resid_post.3", "attn_in.2", "mlp_in.1", "attn_out.1", "mlp_out.2");
    private static final List<SteerOptions> OPTIONS = List.of(SteerOptions.ADD, SteerOptions.of(SteerOp.ABLATE),
            SteerOptions.of(SteerOp.ABLATE_ADD), SteerOptions.of(SteerOp.CLAMP), SteerOptions.ADD.withPreserveNorm(true),
            SteerOptions.ADD.withPositions(Positions.from(PROMPT.length)));

    @TempDir
    Path temp;

    @Test
    void residualSitesAreSkipNormSums() {
        SiteMap sites = SiteFinder.find(ModelReader.read(Fixtures.dir(Fixtures.LLAMA_SKIPNORM)));
        assertEquals(Fixtures.LLAMA_LAYERS, sites.layerCount(), sites.notes().toString());
        for (String site : List.of("resid_mid.0", "resid_post.1", "resid_pre.2", "resid_post.3")) {
            String[] parts = site.split("\\.");
            assertEquals(List.of(true), sites.find(SiteKind.parse(parts[0]), Integer.parseInt(parts[1])).stream()
                    .map(s -> FusedNorms.isSkipNormSum(s.value())).toList(), site);
        }
    }

    @Test
    void everySiteOpAndModeGivesTheUnfusedTokens() {
        ModelFiles fused = ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_SKIPNORM), null);
        ModelFiles plain = ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY), null);
        long[] unsteered = generate(ModelReader.read(plain.onnx()));
        assertArrayEquals(unsteered, generate(ModelReader.read(fused.onnx())), "the fused graph computes the same model");
        List<String> mismatches = new ArrayList<>();
        int changed = 0;
        int compared = 0;
        for (String name : SITES) {
            String[] parts = name.split("\\.");
            Steering steering = new Steering(SiteKind.parse(parts[0]), Integer.parseInt(parts[1]),
                    ParityHarnessTest.randomVector(Fixtures.LLAMA_HIDDEN, name.hashCode()), 6f);
            for (SteerOptions options : OPTIONS) {
                // input mode reaches the same rewrite with graph inputs for operands; once per site covers it
                for (Mode mode : options == SteerOptions.ADD ? List.of(Mode.ADD, Mode.INPUT) : List.of(Mode.ADD)) {
                    long[] expected = generate(Compilation.compile(plain, s -> List.of(steering), mode, options).model());
                    long[] actual = generate(Compilation.compile(fused, s -> List.of(steering), mode, options).model());
                    changed += Arrays.equals(expected, unsteered) ? 0 : 1;
                    compared++;
                    if (!Arrays.equals(expected, actual)) {
                        mismatches.add(name + " " + label(options, mode) + ": unfused "
                                + Arrays.toString(expected) + ", fused " + Arrays.toString(actual));
                    }
                }
            }
        }
        assertEquals(List.of(), mismatches);
        assertTrue(2 * changed > compared, "most steerings change the tokens (" + changed + " of " + compared + ")");
    }

    @Test
    void parityCutsTheFusedSumWhereTheVectorEnters() {
        ModelFiles fused = ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_SKIPNORM), null);
        for (String name : List.of("resid_mid.1", "resid_post.2")) {
            String[] parts = name.split("\\.");
            List<Steering> steering = List.of(new Steering(SiteKind.parse(parts[0]), Integer.parseInt(parts[1]),
                    ParityHarnessTest.randomVector(Fixtures.LLAMA_HIDDEN, 11), 5f));
            Path out = temp.resolve(name);
            Compilation.compileTo(fused, s -> steering, Mode.ADD, SteerOptions.ADD, out);
            ParityReport report = new ParityHarness(fused, out.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu(), 4)
                    .run(List.of(PROMPT, new long[] {1, 200, 3}));
            assertEquals(0.0, ParityHarnessTest.check(report, "zero").maxAbsDiff(), name + ": coefficient 0 is exact");
            assertEquals(ParityCheck.Status.PASSED, ParityHarnessTest.check(report, "independent").status(),
                    name + ": " + report.checks());
        }
    }

    private static long[] generate(Model model) {
        try (ModelSession session = SessionFactory.open(model, "skip-norm test model", SessionConfig.cpu())) {
            GenerationConfig greedy = GenerationConfig.greedy(8).withEosTokenIds(List.of());
            return Generator.create(session, null, ModelConfig.EMPTY)
                    .generateIds(List.of(PROMPT), greedy, ExtraInputs.NONE, TokenListener.NONE).get(0).tokenIdArray();
        }
    }

    private static String label(SteerOptions options, Mode mode) {
        return "--op " + options.op().label() + " --positions " + options.positions()
                + (options.preserveNorm() ? " --preserve-norm" : "") + " --mode " + mode.label();
    }
}
