package dev.onnxsteer.vectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadVectorException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SaeFeaturesTest {
    @TempDir
    Path tmp;
    private final SaeFixture fixture = new SaeFixture(64, 96, 13);

    @Test
    void readsTheFeaturesDecoderRowAtTheHooksSiteAndLayer() throws Exception {
        Path dir = fixture.write(tmp.resolve("sae"), "blocks.2.hook_resid_post", false);
        SteeringVectors v = SaeFeatures.read("sae:" + dir + "#17");
        assertEquals(Set.of(2), v.layerIndices());
        assertEquals("resid_post", v.metadata().site());
        assertArrayEquals(fixture.row(17), v.layer(2));
        assertEquals("17", v.metadata().extra().get("sae_feature"));
    }

    @Test
    void aTransposedDecoderGivesTheSameRow() throws Exception {
        Path dir = fixture.write(tmp.resolve("sae"), "blocks.1.hook_mlp_out", true);
        SteeringVectors v = SaeFeatures.read("sae:" + dir + "#95");
        assertEquals("mlp_out", v.metadata().site());
        assertArrayEquals(fixture.row(95), v.layer(1));
    }

    @Test
    void unitScalesTheRowToLengthOne() throws Exception {
        Path dir = fixture.write(tmp.resolve("sae"), "blocks.0.hook_resid_pre", false);
        float[] v = SaeFeatures.read("sae:" + dir + "#3,unit").layer(0);
        float[] raw = fixture.row(3);
        double norm = 0;
        double rawNorm = 0;
        for (int i = 0; i < v.length; i++) {
            norm += v[i] * v[i];
            rawNorm += raw[i] * raw[i];
        }
        assertEquals(1.0, norm, 1e-5);
        assertEquals(raw[5] / Math.sqrt(rawNorm), v[5], 1e-6);
    }

    @Test
    void refusesAFeatureOutOfRangeAnUnknownHookAndADecoderOfAnotherSize() throws Exception {
        Path dir = fixture.write(tmp.resolve("sae"), "blocks.2.hook_resid_post", false);
        BadVectorException range = assertThrows(BadVectorException.class, () -> SaeFeatures.read("sae:" + dir + "#96"));
        assertTrue(range.getMessage().contains("has no feature 96 (expected a feature in 0..95"), range.getMessage());

        Path z = fixture.write(tmp.resolve("z"), "blocks.2.attn.hook_z", false);
        BadVectorException hook = assertThrows(BadVectorException.class, () -> SaeFeatures.read("sae:" + z + "#1"));
        assertTrue(hook.getMessage().contains("hook_name is not a hook onnx-steer can steer"), hook.getMessage());
        assertTrue(hook.getMessage().contains("blocks.2.attn.hook_z"), hook.getMessage());

        Path other = fixture.write(tmp.resolve("other"), "blocks.2.hook_resid_post", false);
        Files.writeString(other.resolve("cfg.json"), Files.readString(other.resolve("cfg.json")).replace("\"d_in\":64", "\"d_in\":128"));
        BadVectorException shape = assertThrows(BadVectorException.class, () -> SaeFeatures.read("sae:" + other + "#1"));
        assertTrue(shape.getMessage().contains("W_dec does not fit cfg.json's d_sae 96 and d_in 128"), shape.getMessage());

        assertThrows(IllegalArgumentException.class, () -> SaeFeatures.read("sae:" + dir));
    }
}
