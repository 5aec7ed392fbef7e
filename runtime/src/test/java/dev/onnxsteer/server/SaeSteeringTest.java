package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.vectors.SaeFixture;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code steering: [{"sae": NAME, "feature": N, "scale": C}]} on stories260K: a feature of a registered SAELens
 * directory (written by the project's {@link SaeFixture}) steers exactly as the same decoder row registered as a
 * plain vector file, at a resid_post and at a resid_mid hook; bad entries are 400s naming what is valid.
 */
class SaeSteeringTest {
    @TempDir
    static Path tmp;
    private static final SaeFixture POST = new SaeFixture(64, 40, 21);
    private static final SaeFixture MID = new SaeFixture(64, 12, 22);
    private static ServedModel model;
    private static SteerServer server;

    @BeforeAll
    static void start() throws Exception {
        Path post = POST.write(tmp.resolve("sae-post"), "blocks.2.hook_resid_post", false);
        Path mid = MID.write(tmp.resolve("sae-mid"), "blocks.3.hook_resid_mid", true);
        Path vectors = Files.createDirectories(tmp.resolve("vectors"));
        VectorFiles.write(SteeringVectors.of(Map.of(2, POST.row(7)), VectorMetadata.defaults()),
                vectors.resolve("row7.safetensors"));
        VectorFiles.write(SteeringVectors.of(Map.of(2, unit(POST.row(7))), VectorMetadata.defaults()),
                vectors.resolve("row7unit.safetensors"));
        VectorFiles.write(SteeringVectors.of(Map.of(3, MID.row(5)), VectorMetadata.defaults().withSite("resid_mid")),
                vectors.resolve("mid5.gguf"));
        // read-only: only the sites the vectors and SAEs use are steerable, so the SAE sites must be prepared
        model = ServedModel.open(Stories.files(), vectors, SessionConfig.cpu(), ServeOptions.DEFAULTS.withReadOnlyVectors(true)
                .withSaes(Map.of("res2", post, "mid3", mid)));
        server = SteerServer.start(model, ServerConfig.defaults().withPort(0));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.stop();
        }
        if (model != null) {
            model.close();
        }
    }

    private static float[] unit(float[] v) {
        double sum = 0;
        for (float x : v) {
            sum += (double) x * x;
        }
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) (v[i] / Math.sqrt(sum));
        }
        return out;
    }

    private static Http.Reply complete(String steering) {
        return Http.post(server.uri(), "/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 24,"
                + " \"temperature\": 0, \"steering\": " + steering + "}");
    }

    private static String text(String steering) {
        Http.Reply reply = complete(steering);
        assertEquals(200, reply.status(), reply.body());
        return reply.json().get("choices").get(0).get("text").asText();
    }

    @Test
    void aFeatureSteersAsItsDecoderRowGivenAsAVector() {
        String plain = text("[]");
        String feature = text("[{\"sae\": \"res2\", \"feature\": 7, \"scale\": 4}]");
        assertNotEquals(plain, feature, "the feature changes the story");
        assertEquals(text("[{\"vector\": \"row7\", \"scale\": 4}]"), feature);
        assertEquals(text("[{\"vector\": \"row7unit\", \"scale\": 9}]"),
                text("[{\"sae\": \"res2\", \"feature\": 7, \"unit\": true, \"scale\": 9}]"));
        // a transposed W_dec [d_in, d_sae] at resid_mid, mixed with a plain vector in one request
        String mixed = text("[{\"sae\": \"mid3\", \"feature\": 5, \"scale\": 6}, {\"vector\": \"row7\", \"scale\": -2}]");
        assertEquals(text("[{\"vector\": \"mid5\", \"scale\": 6}, {\"vector\": \"row7\", \"scale\": -2}]"), mixed);
        assertNotEquals(text("[{\"vector\": \"row7\", \"scale\": -2}]"), mixed);
    }

    @Test
    void badEntriesAre400sNamingTheValidChoices() {
        String[][] cases = {
                {"[{\"sae\": \"nope\", \"feature\": 1}]", "unknown SAE 'nope'; known SAEs: [mid3, res2]"},
                {"[{\"sae\": \"res2\", \"feature\": 40}]", "SAE res2 has features 0..39 (d_sae 40), got feature 40"},
                {"[{\"sae\": \"res2\", \"feature\": -1}]", "steering feature must be a feature of the SAE (an integer >= 0), got -1"},
                {"[{\"sae\": \"res2\"}]", "steering feature must be a feature of the SAE (an integer >= 0), got nothing"},
                {"[{\"sae\": \"res2\", \"feature\": 1, \"vector\": \"row7\"}]", "names a vector or an SAE feature, not both"},
                {"[{\"vector\": \"row7\", \"feature\": 1}]", "steering feature and unit go with sae"},
                {"[{\"sae\": \"res2\", \"feature\": 1, \"unit\": \"yes\"}]", "steering unit must be true or false"},
                {"[{\"sae\": \"res2\", \"feature\": 1, \"layers\": [3, 4]}]", "layers [3, 4] of sae:res2#1: this server steers"
                        + " resid_post only at layers [2]"}};
        for (String[] c : cases) {
            Http.Reply reply = complete(c[0]);
            assertEquals(400, reply.status(), c[0] + ": " + reply.body());
            assertEquals("steering", reply.json().get("error").get("param").asText(), reply.body());
            assertTrue(reply.json().get("error").get("message").asText().contains(c[1]), reply.body());
        }
    }

    @Test
    void anSaeThatDoesNotFitTheModelIsRefusedAtStartUp() throws Exception {
        Path narrow = new SaeFixture(32, 4, 3).write(tmp.resolve("sae-narrow"), "blocks.1.hook_resid_post", false);
        BadVectorException wide = assertThrows(BadVectorException.class, () -> ServedModel.open(Stories.files(),
                Stories.vectors(), SessionConfig.cpu(), ServeOptions.DEFAULTS.withSaes(Map.of("narrow", narrow))));
        assertTrue(wide.getMessage().startsWith("SAE narrow (") && wide.getMessage().contains(
                "has 32 values per layer but resid_post.1 of the model has hidden size 64"), wide.getMessage());
        Path z = new SaeFixture(64, 4, 3).write(tmp.resolve("sae-z"), "blocks.1.attn.hook_z", false);
        BadVectorException hook = assertThrows(BadVectorException.class, () -> ServedModel.open(Stories.files(),
                Stories.vectors(), SessionConfig.cpu(), ServeOptions.DEFAULTS.withSaes(Map.of("z", z))));
        assertTrue(hook.getMessage().contains("hook_name is not a hook onnx-steer can steer"), hook.getMessage());
    }
}
