package dev.onnxsteer.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorMetadata;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The plan's rules, each with the per-site steering it must give (hidden size 2, exact values). */
class SteeringPlanTest {
    /** Five layers; sites named without a layer never need the map's sites. */
    private static final SiteMap SITES = new SiteMap("test", 5, 2, List.of(), List.of());

    private static PlanVector file(String name, float coefficient, String site, Object... layerThenVector) {
        Map<Integer, float[]> layers = new TreeMap<>();
        for (int i = 0; i < layerThenVector.length; i += 2) {
            layers.put((Integer) layerThenVector[i], (float[]) layerThenVector[i + 1]);
        }
        return new PlanVector(name, SteeringVectors.of(layers, VectorMetadata.defaults().withSite(site)), coefficient);
    }

    private static PlanVector residPost(String name, float coefficient, Object... layerThenVector) {
        return file(name, coefficient, "resid_post", layerThenVector);
    }

    private static void assertSteering(String site, float coefficient, float[] vector, Steering actual) {
        assertEquals(site, actual.siteName());
        assertEquals(coefficient, actual.coefficient(), "coefficient at " + site);
        assertArrayEquals(vector, actual.vector(), "vector at " + site);
    }

    private static LayerChoice layers(int... chosen) {
        TreeSet<Integer> set = new TreeSet<>();
        for (int layer : chosen) {
            set.add(layer);
        }
        return new LayerChoice(set, "--layers", "test");
    }

    @Test
    void oneFileKeepsItsVectorWithItsOwnCoefficientTimesTheGlobalOne() {
        SteeringPlan plan = new SteeringPlan(List.of(residPost("a", 2f, 1, new float[] {1, -2}, 3, new float[] {0.5f, 4})),
                3f, null, null, SteerOp.ADD, null, false);
        List<Steering> steering = plan.steeringFor(SITES);
        assertEquals(2, steering.size());
        assertSteering("resid_post.1", 6f, new float[] {1, -2}, steering.get(0));
        assertSteering("resid_post.3", 6f, new float[] {0.5f, 4}, steering.get(1));
    }

    @Test
    void aOneLayerFileSpreadsOverAChoiceAndStaysAtItsLayerWithout() {
        PlanVector happy = residPost("happy", 2f, 2, new float[] {1, 1});
        List<Steering> own = SteeringPlan.add(List.of(happy)).steeringFor(SITES);
        assertEquals(1, own.size());
        assertSteering("resid_post.2", 2f, new float[] {1, 1}, own.get(0));
        List<Steering> spread = SteeringPlan.add(List.of(happy)).withLayers(LayerChoice.range(1, 3)).steeringFor(SITES);
        assertEquals(List.of("resid_post.1", "resid_post.2", "resid_post.3"), spread.stream().map(Steering::siteName).toList());
        spread.forEach(s -> assertSteering(s.siteName(), 2f, new float[] {1, 1}, s));
    }

    @Test
    void aSeveralLayerFileKeepsTheChosenLayersItHasAndAChoiceOfNoneOfThemIsRefused() {
        PlanVector sad = residPost("sad", -1.5f, 1, new float[] {1, 0}, 3, new float[] {0, 1});
        List<Steering> cut = SteeringPlan.add(List.of(sad)).withLayers(LayerChoice.range(2, 4)).steeringFor(SITES);
        assertEquals(1, cut.size());
        assertSteering("resid_post.3", -1.5f, new float[] {0, 1}, cut.get(0));
        BadVectorException nothing = assertThrows(BadVectorException.class,
                () -> SteeringPlan.add(List.of(sad)).withLayers(LayerChoice.range(4, 4)).steeringFor(SITES));
        assertEquals("layers [4, 4] leave nothing of sad, which has layers [1, 3]", nothing.getMessage());
    }

    @Test
    void severalFilesAreSummedPerSiteWithTheirOwnCoefficientsAndTheGlobalOneOnTop() {
        PlanVector a = residPost("a", 2f, 2, new float[] {1, 3});
        PlanVector b = residPost("b", 0.5f, 2, new float[] {4, -2}, 3, new float[] {2, 2});
        List<Steering> own = new SteeringPlan(List.of(a, b), 3f, null, null, SteerOp.ADD, null, false).steeringFor(SITES);
        assertEquals(2, own.size());
        assertSteering("resid_post.2", 3f, new float[] {2 + 2, 6 - 1}, own.get(0));
        assertSteering("resid_post.3", 3f, new float[] {1, 1}, own.get(1), "a steers its own layer only");
        List<Steering> chosen = new SteeringPlan(List.of(a, b), 3f, layers(2, 3), null, SteerOp.ADD, null, false)
                .steeringFor(SITES);
        assertSteering("resid_post.3", 3f, new float[] {2 + 1, 6 + 1}, chosen.get(1));
    }

    private static void assertSteering(String site, float coefficient, float[] vector, Steering actual, String why) {
        assertEquals(site, actual.siteName(), why);
        assertSteering(site, coefficient, vector, actual);
    }

    @Test
    void filesForDifferentSitesEachSteerTheirOwnUnlessASiteIsGiven() {
        PlanVector post = residPost("post", 1f, 2, new float[] {1, 0});
        PlanVector mid = file("mid", 2f, "resid_mid", 2, new float[] {0, 1});
        List<Steering> own = SteeringPlan.add(List.of(post, mid)).steeringFor(SITES);
        assertEquals(List.of("resid_post.2", "resid_mid.2"), own.stream().map(Steering::siteName).toList());
        assertSteering("resid_mid.2", 1f, new float[] {0, 2}, own.get(1));
        List<Steering> given = new SteeringPlan(List.of(post, mid), null, null, "attn_out", SteerOp.ADD, null, false)
                .steeringFor(SITES);
        assertEquals(1, given.size());
        assertSteering("attn_out.2", 1f, new float[] {1, 2}, given.get(0));
    }

    @Test
    void clampTakesItsValueAsTheCoefficientAndAblateOnlyTheDirection() {
        PlanVector a = residPost("a", 2f, 1, new float[] {3, 4});
        List<Steering> clamp = SteeringPlan.add(List.of(a)).withOp(SteerOp.CLAMP, -5f).steeringFor(SITES);
        assertSteering("resid_post.1", -5f, new float[] {3, 4}, clamp.get(0));
        List<Steering> ablate = SteeringPlan.add(List.of(a)).withOp(SteerOp.ABLATE, null).steeringFor(SITES);
        assertArrayEquals(new float[] {3, 4}, ablate.get(0).vector());
        assertThrows(IllegalArgumentException.class, () -> SteeringPlan.add(List.of(a)).withOp(SteerOp.CLAMP, null));
    }

    @Test
    void aBankHasOneScaledRowPerFileAtEveryLayerOfTheFirstFile() {
        PlanVector a = residPost("a.gguf", 2f, 1, new float[] {1, 2}, 2, new float[] {3, 4});
        PlanVector b = residPost("b.gguf", -1f, 4, new float[] {5, 6});
        List<Steering> rows = new SteeringPlan(List.of(a, b), 0.5f, null, null, SteerOp.ADD, null, true).steeringFor(SITES);
        assertEquals(4, rows.size());
        assertSteering("resid_post.1", 0.5f, new float[] {2, 4}, rows.get(0));
        assertSteering("resid_post.1", 0.5f, new float[] {-5, -6}, rows.get(1), "a one-layer file fits any layer");
        assertSteering("resid_post.2", 0.5f, new float[] {6, 8}, rows.get(2));
        assertSteering("resid_post.2", 0.5f, new float[] {-5, -6}, rows.get(3));
        PlanVector c = residPost("c.gguf", 1f, 0, new float[] {1, 1}, 4, new float[] {1, 1});
        BadVectorException missing = assertThrows(BadVectorException.class,
                () -> new SteeringPlan(List.of(a, c), null, null, null, SteerOp.ADD, null, true).steeringFor(SITES));
        assertEquals("bank vector c.gguf has no layer 1; it has layers [0, 4] and every bank vector needs every steered layer",
                missing.getMessage());
    }
}
