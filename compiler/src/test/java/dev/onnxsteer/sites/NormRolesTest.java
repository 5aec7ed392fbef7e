package dev.onnxsteer.sites;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.Dim;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Tensor;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.ir.ValueType;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * attn_in/mlp_in are the value the sublayer's projections read, the norm's gain included, however
 * the exporter hands the gain over; a layer whose norm output plays another role is left out.
 */
class NormRolesTest {
    private static final String GAIN_MUL = "/model/layers.%d/input_layernorm/Mul_1";

    @Test
    void gainsThroughIdentityCastAndConstantAreStillConstants() {
        Model model = Fixtures.llamaTiny(false);
        Graph g = model.graph();
        Node identity = gainMul(g, 1);
        identity.setInput(0, g.op("Identity").name("Identity_1").inputs(identity.input(0)).value());
        Node cast = gainMul(g, 2);
        Value viaIdentity = g.op("Identity").name("Identity_2").inputs(cast.input(0)).value();
        cast.setInput(0, g.op("Cast").name("Cast_2").inputs(viaIdentity).attr("to", (long) DataType.FLOAT.code()).value());
        Node constant = gainMul(g, 3);
        Tensor gain = constant.input(0).initializer();
        constant.setInput(0, g.op("Constant").name("Constant_gain").attr("value", gain).value());
        g.sortTopologically();

        SiteMap sites = SiteFinder.find(model);
        for (int layer = 0; layer < Fixtures.LLAMA_LAYERS; layer++) {
            Site attnIn = sites.find(SiteKind.ATTN_IN, layer).get(0);
            assertEquals(String.format(GAIN_MUL, layer) + "_output_0", attnIn.value().name(), "attn_in." + layer);
            assertEquals(3, attnIn.projections().size(), "q, k and v read attn_in." + layer);
        }
        assertFalse(sites.notes().stream().anyMatch(n -> n.contains("left out")), sites.notes().toString());
    }

    @Test
    void aLayerWhoseNormOutputIsNotWhatItsProjectionsReadIsLeftOutWithANote() {
        Model model = Fixtures.llamaTiny(false);
        Graph g = model.graph();
        Value gain = g.addInput("layer2_gain", ValueType.Tensor.of(DataType.FLOAT, Dim.of(Fixtures.LLAMA_HIDDEN)));
        gainMul(g, 2).setInput(0, gain);

        SiteMap sites = SiteFinder.find(model);
        assertTrue(sites.sites().stream().noneMatch(s -> s.kind() == SiteKind.ATTN_IN && s.layer() == 2),
                "attn_in.2 is left out");
        List<String> notes = sites.notes().stream().filter(n -> n.contains("attn_in.2 is left out")).toList();
        assertEquals(1, notes.size(), sites.notes().toString());
        assertTrue(notes.get(0).contains(String.format(GAIN_MUL, 2)), notes.get(0));
        for (int layer : new int[] {0, 1, 3}) {
            assertEquals(String.format(GAIN_MUL, layer) + "_output_0",
                    sites.find(SiteKind.ATTN_IN, layer).get(0).value().name(), "attn_in." + layer + " stays");
        }
        assertEquals(1, sites.sites().stream().filter(s -> s.kind() == SiteKind.MLP_IN && s.layer() == 2).count(),
                "mlp_in.2 is unaffected");
    }

    private static Node gainMul(Graph g, int layer) {
        String name = String.format(GAIN_MUL, layer);
        return g.nodes().stream().filter(n -> n.name().equals(name)).findFirst().orElseThrow();
    }
}
