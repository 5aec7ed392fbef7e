package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What {@code inspect} reports for the deployment-flavour fixtures (builder layout, int4, q4f16,
 * int8 dynamic, QDQ, bnb4) is what it reports for the fp32 standard-op reference of the same weights:
 * the same sites by layer with the same hidden size and role, and sublayer inputs read by
 * projections of the same total width in the flavour's encoding.
 */
class FlavourSitesTest {
    static Stream<Arguments> flavours() {
        return Stream.of(
                Arguments.of(Fixtures.LLAMA_GENAI, Fixtures.LLAMA_TINY, Projection.Encoding.FLOAT),
                Arguments.of(Fixtures.LLAMA_GENAI_INT4, Fixtures.LLAMA_TINY, Projection.Encoding.MATMUL_NBITS),
                Arguments.of(Fixtures.LLAMA_GENAI_Q4F16, Fixtures.LLAMA_TINY, Projection.Encoding.MATMUL_NBITS),
                Arguments.of(Fixtures.LLAMA_INT8, Fixtures.LLAMA_TINY, Projection.Encoding.MATMUL_INTEGER),
                Arguments.of(Fixtures.LLAMA_QDQ, Fixtures.LLAMA_TINY, Projection.Encoding.QDQ),
                Arguments.of(Fixtures.LLAMA_BNB4, Fixtures.LLAMA_TINY, Projection.Encoding.BNB4),
                Arguments.of(Fixtures.LLAMA_HS16_GENAI, Fixtures.LLAMA_HS16, Projection.Encoding.FLOAT));
    }

    @ParameterizedTest
    @MethodSource("flavours")
    void theFlavourHasTheReferencesSitesByLayerWithTheirHiddenSizeAndRole(String flavour, String reference,
            Projection.Encoding encoding) {
        Model model = ModelReader.read(Fixtures.dir(flavour));
        Model fp32 = ModelReader.read(Fixtures.dir(reference));
        SiteMap map = SiteFinder.find(model);
        SiteMap referenceMap = SiteFinder.find(fp32);
        ModelSummary summary = ModelSummary.of(model, flavour, map);
        ModelSummary referenceSummary = ModelSummary.of(fp32, reference, referenceMap);
        assertEquals(referenceSummary.layers(), summary.layers());
        assertEquals(referenceSummary.hiddenSize(), summary.hiddenSize());

        int last = referenceMap.layerCount() - 1;
        boolean builder = flavour.contains("genai");
        Map<String, String> expected = roles(referenceSummary);
        if (builder) {
            // the builder's final SkipSimplifiedLayerNormalization computes the last residual sum without exposing it
            expected.remove("resid_post." + last);
            assertTrue(map.notes().stream().anyMatch(n -> n.contains("resid_post." + last) && n.contains("optional output 3")),
                    map.notes().toString());
        } else {
            assertEquals(List.of(), map.notes());
        }
        assertEquals(expected, roles(summary), flavour + " against " + reference);

        for (Site site : map.sites()) {
            if (!site.kind().isSublayerInput()) {
                continue;
            }
            Site same = referenceMap.find(site.kind(), site.layer()).get(0);
            assertEquals(width(same), width(site), site.name() + ": the projections reading it have the reference's width");
            assertEquals(Set.of(encoding), site.projections().stream().map(Projection::encoding).collect(Collectors.toSet()),
                    site.name());
            assertEquals(builder && site.kind() == SiteKind.ATTN_IN ? 1 : same.projections().size(), site.projections().size(),
                    site.name() + (builder ? ": the builder packs q|k|v into one projection" : ""));
        }
        if (!builder) {
            // only the projections changed: every residual and norm tensor keeps its name
            Map<String, String> tensors = tensors(summary);
            Map<String, String> referenceTensors = tensors(referenceSummary);
            tensors.keySet().removeIf(name -> name.startsWith("attn_out") || name.startsWith("mlp_out"));
            referenceTensors.keySet().removeIf(name -> name.startsWith("attn_out") || name.startsWith("mlp_out"));
            assertEquals(referenceTensors, tensors);
        }
    }

    /**
     * inspect marks a sublayer output made by a bias-less MatMulNBits (and the residual sum it alone feeds) as
     * foldable, naming the input a bias compile creates; a MatMulInteger, which has no bias input, stays not.
     */
    @ParameterizedTest
    @MethodSource("flavours")
    void aBiaslessMatMulNBitsWriterIsFoldableThroughTheBiasInputACompileCreates(String flavour, String reference,
            Projection.Encoding encoding) {
        Model model = ModelReader.read(Fixtures.dir(flavour));
        SiteMap map = SiteFinder.find(model);
        Map<String, ModelSummary.SiteInfo> info = new LinkedHashMap<>();
        ModelSummary.of(model, flavour, map).sites().forEach(s -> info.put(s.name(), s));
        boolean nbits = encoding == Projection.Encoding.MATMUL_NBITS;
        for (Site site : map.sites()) {
            ModelSummary.SiteInfo shown = info.get(site.name());
            if (site.kind() == SiteKind.ATTN_OUT || site.kind() == SiteKind.MLP_OUT) {
                assertEquals(nbits, shown.biasFoldable(), site.name());
                assertEquals(nbits, shown.biasCreated(), site.name());
                if (nbits) {
                    assertEquals("new input 5 of " + site.value().producer().name(), shown.bias(), site.name());
                }
            }
            if (site.kind() == SiteKind.RESID_MID) {
                assertEquals(nbits, shown.biasCreated(), site.name() + ": attn_out feeds only this sum");
            }
            if (!nbits) {
                assertTrue(!shown.biasFoldable() || !shown.biasCreated(), site.name());
            }
        }
    }

    /** Each site, by name, with its kind, layer and hidden size: what a user reads in {@code inspect}. */
    private static Map<String, String> roles(ModelSummary summary) {
        Map<String, String> roles = new LinkedHashMap<>();
        summary.sites().forEach(s -> roles.put(s.name(), s.kind() + " of layer " + s.layer() + ", hidden " + s.hiddenSize()));
        return roles;
    }

    private static Map<String, String> tensors(ModelSummary summary) {
        Map<String, String> tensors = new LinkedHashMap<>();
        summary.sites().forEach(s -> tensors.put(s.name(), s.tensor()));
        return tensors;
    }

    private static long width(Site site) {
        return site.projections().stream().mapToLong(Projection::outputSize).sum();
    }
}
