package dev.onnxsteer.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.server.BoundSteering;
import dev.onnxsteer.server.CompletionRequest;
import dev.onnxsteer.server.InputModeSteering;
import dev.onnxsteer.server.ServeOptions;
import dev.onnxsteer.server.ServedModel;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The command line and the server plan steering with the same library rules: {@code generate}'s
 * options and a {@code serve} request that say the same thing give the same per-site steering.
 */
class SteeringPlanCommandTest {
    @TempDir
    static Path tmp;
    static Path model;
    static Path vectors;
    static SiteMap sites;
    static ServedModel served;

    @BeforeAll
    static void setUp() throws Exception {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        model = tmp.resolve("stories");
        assertEquals(Main.OK, CliRun.run("import", gguf.toString(), "-o", model.toString()).code());
        vectors = Files.createDirectories(tmp.resolve("vectors"));
        VectorFiles.write(wave(Map.of(2, 0.7)), vectors.resolve("happy.gguf"));
        VectorFiles.write(wave(Map.of(1, 0.3, 3, 1.1)), vectors.resolve("sad.safetensors"));
        sites = SiteFinder.find(ModelReader.read(model.resolve(ModelFiles.MODEL_FILE)));
        served = ServedModel.open(ModelFiles.locate(model, null), vectors, SessionConfig.cpu(),
                ServeOptions.DEFAULTS.withAblateClamp(true));
    }

    @AfterAll
    static void close() {
        served.close();
    }

    private static SteeringVectors wave(Map<Integer, Double> frequencies) {
        Map<Integer, float[]> layers = new java.util.TreeMap<>();
        frequencies.forEach((layer, f) -> {
            float[] v = new float[64];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) Math.sin(i * f);
            }
            layers.put(layer, v);
        });
        return SteeringVectors.of(layers, VectorMetadata.defaults());
    }

    /** What {@code generate MODEL ARGS} would compile. */
    private static List<Steering> cli(String... args) {
        List<String> all = new ArrayList<>(List.of(model.toString(), "--prompt", "x"));
        for (String arg : args) {
            all.add(arg.replace("VECTORS", vectors.toString()));
        }
        GenerateCommand command = new GenerateCommand();
        new CommandLine(command).parseArgs(all.toArray(String[]::new));
        command.steering.options();
        return command.steering.steerings(sites);
    }

    /** What the server feeds a request with this {@code steering} list. */
    private static List<Steering> server(String steering) throws Exception {
        CompletionRequest request = CompletionRequest.parse(new ObjectMapper().readTree("{\"steering\": " + steering + "}"), 16);
        return ((InputModeSteering) served.steering()).perSite(new BoundSteering(request.steering(), served.vectors()));
    }

    private static void assertSame(List<Steering> expected, List<Steering> actual, String what) {
        assertEquals(expected.stream().map(Steering::siteName).toList(), actual.stream().map(Steering::siteName).toList(), what);
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i).coefficient(), actual.get(i).coefficient(), what + " at " + expected.get(i).siteName());
            assertArrayEquals(expected.get(i).vector(), actual.get(i).vector(), what + " at " + expected.get(i).siteName());
        }
    }

    @Test
    void theSameRequestGivesTheSamePerSiteSteering() throws Exception {
        String[][] cases = {
                {"[{\"vector\": \"happy\", \"scale\": 2, \"layers\": [1, 3]}]", "--vector VECTORS/happy.gguf:2 --layers 1-3"},
                {"[{\"vector\": \"sad\", \"scale\": -1.5, \"layers\": [2, 4]}]", "--vector VECTORS/sad.safetensors:-1.5 --layers 2-4"},
                {"[{\"vector\": \"sad\", \"scale\": 0.5}]", "--vector VECTORS/sad.safetensors:0.5"},
                {"[{\"vector\": \"happy\", \"op\": \"ablate\"}]", "--vector VECTORS/happy.gguf --op ablate"},
                {"[{\"vector\": \"happy\", \"op\": \"clamp\", \"value\": 3, \"layers\": [0, 1]}]",
                        "--vector VECTORS/happy.gguf --op clamp --clamp-value 3 --layers 0-1"}};
        for (String[] c : cases) {
            List<Steering> fromCli = cli(c[1].split(" "));
            assertSame(fromCli, server(c[0]), c[0] + " vs " + c[1]);
        }
        float[] happy = VectorFiles.read(vectors.resolve("happy.gguf")).layer(2);
        List<Steering> spread = cli("--vector", "VECTORS/happy.gguf:2", "--layers", "1-3");
        assertEquals(List.of("resid_post.1", "resid_post.2", "resid_post.3"), spread.stream().map(Steering::siteName).toList());
        for (Steering s : spread) {
            assertEquals(2f, s.coefficient());
            assertArrayEquals(happy, s.vector());
        }
        List<Steering> cut = cli("--vector", "VECTORS/sad.safetensors:-1.5", "--layers", "2-4");
        assertEquals(List.of("resid_post.3"), cut.stream().map(Steering::siteName).toList(),
                "a several-layer file keeps the chosen layers it has");
    }
}
