package dev.onnxsteer.peers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.sites.SiteNames;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The independent check of site discovery: torch.onnx exports of HF-shaped GPT-2 and llama modules
 * (opset 14: decomposed LayerNorm, with random gains and biases, and once with layers whose gains
 * equal layer 0's so the exporter turns them into {@code Identity} nodes; opset 17: fused
 * LayerNormalization), compiled by us at every site of every layer, by our name, the
 * TransformerLens hook name and the Hugging Face module path, in each mode that applies, must
 * generate the tokens PyTorch forward hooks on those modules give, token for token.
 */
class TorchPeerTest {
    private static final int NEW_TOKENS = 8;
    private static final Map<SiteKind, String> HOOK_NAMES = Map.of(SiteKind.ATTN_IN, "ln1.hook_normalized",
            SiteKind.ATTN_OUT, "hook_attn_out", SiteKind.MLP_IN, "ln2.hook_normalized", SiteKind.MLP_OUT,
            "hook_mlp_out", SiteKind.RESID_POST, "hook_resid_post");

    @TempDir
    Path temp;

    @ParameterizedTest(name = "{0} opset {1}, shared gammas {2}")
    @CsvSource({"gpt2, 14, false", "gpt2, 14, true", "gpt2, 17, false", "llama, 14, false", "llama, 17, false",
            "llama, 14, true"})
    void everySiteGivesTheHookTokens(String family, int opset, boolean sharedGammas) throws Exception {
        TorchPeer.Export export = TorchPeer.export(family, opset, sharedGammas, temp.resolve("export"));
        Model source = ModelReader.read(export.onnx());
        if (sharedGammas) {
            long identities = source.graph().nodes().stream().filter(n -> n.is("Identity")
                    && n.input(0).isInitializer() && n.input(0).name().contains("norm")
                    || n.is("Identity") && n.input(0).name().contains(".ln_")).count();
            assertTrue(identities >= 2, "the export deduplicates the shared gains into Identity nodes");
        }
        assertArrayEquals(export.baseline(), generate(source, export.prompt()), "the unsteered export gives PyTorch's tokens");
        SiteMap sites = SiteFinder.find(source);
        assertFalse(sites.notes().stream().anyMatch(n -> n.contains("left out")), sites.notes().toString());

        ModelFiles files = ModelFiles.locate(export.dir(), null);
        List<String> mismatches = new ArrayList<>();
        for (TorchPeer.Case c : export.cases()) {
            SiteNames.SiteName ours = SiteNames.parse(c.site());
            assertFalse(Arrays.equals(export.baseline(), c.tokens()), c.site() + ": the hook changes the tokens");
            String hookName = "blocks." + ours.layer() + "." + HOOK_NAMES.get(ours.kind());
            for (String name : List.of(c.site(), hookName, c.module())) {
                SiteNames.Resolved resolved = SiteNames.resolve(sites, name);
                assertEquals(ours.kind() + "." + ours.layer(), resolved.kind() + "." + resolved.layer(),
                        name + " resolves to the site the hook steers (" + resolved.how() + ")");
            }
            Steering steering = new Steering(ours.kind(), ours.layer(), export.vector(), export.coefficient());
            for (Mode mode : modes(export.family(), ours.kind(), ours.layer())) {
                SteerOptions options = SteerOptions.ADD.withCreateBias(mode == Mode.BIAS && export.family().equals("llama"));
                Model compiled = Compilation.compile(files, s -> List.of(steering), mode, options).model();
                if (mode == Mode.BIAS && !options.createBias()) {
                    assertEquals(source.graph().nodes().size(), compiled.graph().nodes().size(),
                            c.site() + ": bias mode adds no node");
                }
                long[] tokens = generate(compiled, export.prompt());
                if (!Arrays.equals(c.tokens(), tokens)) {
                    mismatches.add(c.site() + " (" + c.module() + ") --mode " + mode.label() + ": hooks "
                            + Arrays.toString(c.tokens()) + ", compiled " + Arrays.toString(tokens));
                }
            }
        }
        assertEquals(List.of(), mismatches, family + " opset " + opset);
    }

    /**
     * Every mode that applies at {@code kind}: add; bias where a bias can absorb the constant (llama
     * gets created ones); input (the same rewrite with graph-input operands) at layer 1 only, to keep
     * the run short.
     */
    private static List<Mode> modes(String family, SiteKind kind, int layer) {
        List<Mode> modes = new ArrayList<>(List.of(Mode.ADD));
        if (family.equals("gpt2") || kind.isSublayerInput()) {
            modes.add(Mode.BIAS);
        }
        if (layer == 1) {
            modes.add(Mode.INPUT);
        }
        return modes;
    }

    private static long[] generate(Model model, long[] prompt) {
        try (ModelSession session = SessionFactory.open(model, "torch peer export", SessionConfig.cpu())) {
            GenerationConfig greedy = GenerationConfig.greedy(NEW_TOKENS).withEosTokenIds(List.of());
            return Generator.create(session, null, ModelConfig.EMPTY)
                    .generateIds(List.of(prompt), greedy, ExtraInputs.NONE, TokenListener.NONE).get(0)
                    .tokenIdArray();
        }
    }
}
