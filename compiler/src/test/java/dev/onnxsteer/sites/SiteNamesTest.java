package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Parsing site names in our words, TransformerLens hook names and Hugging Face module paths. */
class SiteNamesTest {
    @ParameterizedTest
    @CsvSource({
            "resid_post, RESID_POST, -1, OURS",
            "attn_in, ATTN_IN, -1, OURS",
            "mlp_in.4, MLP_IN, 4, OURS",
            "resid_pre.0, RESID_PRE, 0, OURS",
            "blocks.2.hook_resid_pre, RESID_PRE, 2, TRANSFORMER_LENS",
            "blocks.2.hook_resid_mid, RESID_MID, 2, TRANSFORMER_LENS",
            "blocks.2.hook_resid_post, RESID_POST, 2, TRANSFORMER_LENS",
            "blocks.12.hook_attn_out, ATTN_OUT, 12, TRANSFORMER_LENS",
            "blocks.2.hook_mlp_out, MLP_OUT, 2, TRANSFORMER_LENS",
            "blocks.2.ln1.hook_normalized, ATTN_IN, 2, TRANSFORMER_LENS",
            "blocks.2.ln2.hook_normalized, MLP_IN, 2, TRANSFORMER_LENS",
            "transformer.h.2, RESID_POST, 2, MODULE_PATH",
            "transformer.h.2.attn, ATTN_OUT, 2, MODULE_PATH",
            "transformer.h.2.mlp, MLP_OUT, 2, MODULE_PATH",
            "transformer.h.2.ln_1, ATTN_IN, 2, MODULE_PATH",
            "transformer.h.2.ln_2, MLP_IN, 2, MODULE_PATH",
            "model.layers.3, RESID_POST, 3, MODULE_PATH",
            "model.layers.3.self_attn, ATTN_OUT, 3, MODULE_PATH",
            "model.layers.3.mlp, MLP_OUT, 3, MODULE_PATH",
            "model.layers.3.input_layernorm, ATTN_IN, 3, MODULE_PATH",
            "model.layers.3.post_attention_layernorm, MLP_IN, 3, MODULE_PATH",
            "encoder.layer.5, RESID_POST, 5, MODULE_PATH"})
    void parsesEveryForm(String text, SiteKind kind, int layer, SiteNames.Form form) {
        SiteNames.SiteName name = SiteNames.parse(text);
        assertEquals(kind, name.kind());
        assertEquals(layer, name.layer());
        assertEquals(form, name.form());
        assertEquals(layer >= 0, name.hasLayer());
    }

    @ParameterizedTest
    @CsvSource({
            "blocks.2.hook_resid_psot, blocks.2.hook_resid_post",
            "resid_psot, resid_post",
            "transformer.h.2.mpl, transformer.h.2.mlp",
            "model.layers.2.attn, model.layers.2.self_attn",
            "model.layers.2.input_layer_norm, model.layers.2.input_layernorm",
            "blocks.1.ln1.hook_norm, blocks.1.ln1.hook_normalized",
            "attn_input.3, attn_in.3",
            "transformer.h.2.ln_1.weight, transformer.h.2.ln_1"})
    void unknownNamesAreRefusedWithTheClosestValidNames(String text, String suggestion) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SiteNames.parse(text));
        assertTrue(e.getMessage().startsWith("unknown site '" + text + "'; closest valid names: "), e.getMessage());
        String closest = e.getMessage().substring(e.getMessage().indexOf("closest valid names: "), e.getMessage().indexOf(". Valid"));
        assertTrue(closest.contains(suggestion), e.getMessage());
        assertTrue(e.getMessage().contains("blocks.L.hook_resid_pre"), "the message lists the forms: " + e.getMessage());
    }

    @Test
    void aFamilysSubmoduleIsNotAnotherFamilys() {
        assertThrows(IllegalArgumentException.class, () -> SiteNames.parse("transformer.h.2.self_attn"));
        assertThrows(IllegalArgumentException.class, () -> SiteNames.parse("model.layers.2.ln_1"));
        assertThrows(IllegalArgumentException.class, () -> SiteNames.parse("encoder.layer.2.mlp"));
    }

    @Test
    void modulePathsBecomeTorchScopes() {
        assertEquals("/transformer/h.2/mlp/", SiteNames.scope("transformer.h.2.mlp"));
        assertEquals("/model/layers.10/self_attn/", SiteNames.scope("model.layers.10.self_attn"));
        assertEquals("/encoder/layer.3/", SiteNames.scope("encoder.layer.3"));
    }

    @Test
    void closestIsByEditDistance() {
        assertEquals(0, SiteNames.distance("resid_post", "resid_post"));
        assertEquals(2, SiteNames.distance("resid_psot", "resid_post"));
        assertEquals(3, SiteNames.distance("", "abc"));
        List<String> closest = SiteNames.closest("mlp_ot.7", 3);
        assertEquals("mlp_out.7", closest.get(0));
        assertFalse(closest.contains("mlp_out.0"), "the layer number of the input is kept: " + closest);
    }
}
