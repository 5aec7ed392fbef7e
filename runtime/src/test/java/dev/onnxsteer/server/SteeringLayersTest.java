package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code steering[].layers}: a one-layer vector spread over a range, a several-layer one cut to it; op. */
class SteeringLayersTest {
    private static ServedModel model;
    private static SteerServer server;
    private static URI base;

    @BeforeAll
    static void start() {
        model = ServedModel.open(Stories.files(), Stories.vectors(), SessionConfig.cpu());
        server = SteerServer.start(model, ServerConfig.defaults().withPort(0));
        base = server.uri();
    }

    @AfterAll
    static void stop() {
        server.stop();
        model.close();
    }

    /** generate with the model compiled (mode add) with {@code vector} times {@code scale} at {@code layers}. */
    private static String compiled(String file, float scale, int... layers) {
        SteeringVectors v = VectorFiles.read(Stories.vectors().resolve(file));
        List<Steering> steerings = new ArrayList<>();
        for (int layer : layers) {
            float[] values = v.hasLayer(layer) ? v.layer(layer) : v.layer(v.layerIndices().first());
            steerings.add(new Steering(SiteKind.RESID_POST, layer, values, scale));
        }
        ModelConfig config = ModelConfig.load(Stories.files().directory());
        try (Tokenizer tokenizer = Tokenizer.load(Stories.files().tokenizer(), config);
                ModelSession session = SessionFactory.open(Compilation.compile(Stories.files(), steerings, Mode.ADD).model(),
                        "reference", SessionConfig.cpu())) {
            return Generator.create(session, tokenizer, config).generate(List.of("Once upon a time"),
                    SteerServerTest.config(24, 0, null)).get(0).text();
        }
    }

    private static Http.Reply complete(String steering) {
        return Http.post(base, "/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 24,"
                + " \"temperature\": 0, \"steering\": " + steering + "}");
    }

    private static String text(Http.Reply reply) {
        assertEquals(200, reply.status(), reply.body());
        return reply.json().get("choices").get(0).get("text").asText();
    }

    @Test
    void aOneLayerVectorSpreadsOverTheRange() {
        String spread = text(complete("[{\"vector\": \"happy\", \"scale\": 2, \"layers\": [1, 3], \"op\": \"add\"}]"));
        assertEquals(compiled("happy.gguf", 2, 1, 2, 3), spread);
        assertNotEquals(text(complete("[{\"vector\": \"happy\", \"scale\": 2}]")), spread, "three layers steer differently");
    }

    @Test
    void aSeveralLayerVectorKeepsItsLayersInsideTheRange() {
        assertEquals(compiled("sad.safetensors", -1.5f, 3),
                text(complete("[{\"vector\": \"sad\", \"scale\": -1.5, \"layers\": [2, 4]}]")));
    }

    /** The request's per-site steering is the library plan's: happy spread over 1-3 at scale 2, sad cut to its layer 3. */
    @Test
    void aRequestGetsThePlansPerSiteSteering() throws Exception {
        CompletionRequest request = CompletionRequest.parse(Http.JSON.readTree("{\"steering\": ["
                + "{\"vector\": \"happy\", \"scale\": 2, \"layers\": [1, 3]}, {\"vector\": \"sad\", \"scale\": -1.5,"
                + " \"layers\": [2, 4]}]}"), 16);
        List<Steering> perSite = ((InputModeSteering) model.steering()).perSite(new BoundSteering(request.steering(),
                model.vectors()));
        float[] happy = VectorFiles.read(Stories.vectors().resolve("happy.gguf")).layer(2);
        float[] sad = VectorFiles.read(Stories.vectors().resolve("sad.safetensors")).layer(3);
        assertEquals(List.of("resid_post.1", "resid_post.2", "resid_post.3", "resid_post.3"),
                perSite.stream().map(Steering::siteName).toList());
        for (int i = 0; i < 3; i++) {
            assertEquals(2f, perSite.get(i).coefficient());
            assertArrayEquals(happy, perSite.get(i).vector(), "happy is one layer: the same vector at every layer of the range");
        }
        assertEquals(-1.5f, perSite.get(3).coefficient());
        assertArrayEquals(sad, perSite.get(3).vector());
    }

    @Test
    void badRangesAndOpsAreRefused() {
        String[][] cases = {
                {"[{\"vector\": \"sad\", \"scale\": 1, \"layers\": [4, 4]}]", "leave nothing of sad, which has layers [1, 3]"},
                {"[{\"vector\": \"happy\", \"scale\": 1, \"layers\": [3, 9]}]", "steers resid_post only at layers [0, 1, 2, 3, 4]"},
                {"[{\"vector\": \"calm\", \"scale\": 1, \"layers\": [1, 2]}]", "steers resid_mid only at layers [2]"},
                {"[{\"vector\": \"happy\", \"scale\": 1, \"layers\": [3, 1]}]", "0 <= FIRST <= LAST"},
                {"[{\"vector\": \"happy\", \"scale\": 1, \"layers\": 3}]", "[FIRST, LAST]"},
                {"[{\"vector\": \"happy\", \"op\": \"ablate\"}]", "compile the model with --op ablate"},
                {"[{\"vector\": \"happy\", \"op\": \"scale\"}]", "one of add, ablate, clamp"},
                {"[{\"vector\": \"happy\", \"layer\": 2}]", "unknown steering field 'layer'; expected vector, scale, layers, op"}};
        for (String[] c : cases) {
            Http.Reply reply = complete(c[0]);
            assertEquals(400, reply.status(), c[0]);
            assertEquals("steering", reply.json().get("error").get("param").asText());
            assertTrue(reply.json().get("error").get("message").asText().contains(c[1]), reply.body());
        }
    }
}
