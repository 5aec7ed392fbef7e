package dev.onnxsteer.peers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Drives {@code peers/torch/peer.py} under Debian's {@code /usr/bin/python3} (torch + onnx): a
 * seeded tiny GPT-2 or llama exported by torch.onnx into a temp directory, with the greedy tokens
 * PyTorch forward hooks give when they add {@code c*v} to a module's output ({@code hooks.json}).
 * Without python3 or torch the tests are skipped, saying so, unless the environment variable
 * {@code CI} is set: there the peer is required and its absence fails the test.
 */
final class TorchPeer {
    static final Path PYTHON = Path.of("/usr/bin/python3");

    /** One steered run of the hooks: our site name, the module the hook was on, its tokens. */
    record Case(String site, String module, long[] tokens) {}

    /** What {@code hooks.json} says, next to the exported model directory. */
    record Export(Path dir, String family, long[] prompt, float[] vector, float coefficient, long[] baseline,
            List<Case> cases) {
        Path onnx() {
            return dir.resolve("model.onnx");
        }
    }

    private TorchPeer() {}

    /** Exports {@code family} at {@code opset} (layers sharing layer 0's norm gains when {@code sharedGammas}) into {@code dir}. */
    static Export export(String family, int opset, boolean sharedGammas, Path dir) throws IOException, InterruptedException {
        requirePeer();
        List<String> command = new ArrayList<>(List.of(PYTHON.toString(), script().toString(), "--family", family,
                "--opset", Integer.toString(opset), "--out", dir.toString()));
        if (sharedGammas) {
            command.add("--shared-gammas");
        }
        runScript(command);
        JsonNode hooks = new ObjectMapper().readTree(dir.resolve("hooks.json").toFile());
        List<Case> cases = new ArrayList<>();
        for (JsonNode c : hooks.get("cases")) {
            cases.add(new Case(c.get("site").asText(), c.get("module").asText(), longs(c.get("tokens"))));
        }
        JsonNode v = hooks.get("vector");
        float[] vector = new float[v.size()];
        for (int i = 0; i < vector.length; i++) {
            vector[i] = (float) v.get(i).asDouble();
        }
        return new Export(dir, hooks.get("family").asText(), longs(hooks.get("prompt")), vector,
                (float) hooks.get("coefficient").asDouble(), longs(hooks.get("baseline")), cases);
    }

    /**
     * Runs {@code cast_peer.py} into {@code dir}: a seeded llama exported with an attention_mask input, and
     * {@code cast.json} with the rows, decisions and greedy tokens CAST's hooks give (read by the caller).
     */
    static JsonNode exportCast(Path dir) throws IOException, InterruptedException {
        requirePeer();
        runScript(List.of(PYTHON.toString(), TestPaths.root().resolve("peers/torch/cast_peer.py").toString(), "--out",
                dir.toString()));
        return new ObjectMapper().readTree(dir.resolve("cast.json").toFile());
    }

    private static void runScript(List<String> command) throws IOException, InterruptedException {
        Path log = Files.createTempFile("torch-peer", ".log");
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!process.waitFor(300, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                fail("peer script did not finish: " + command);
            }
            assertEquals(0, process.exitValue(), () -> "peer script failed: " + command + "\n" + read(log));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    static long[] longs(JsonNode array) {
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asLong();
        }
        return out;
    }

    private static Path script() {
        return TestPaths.root().resolve("peers/torch/peer.py");
    }

    private static String read(Path log) {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    /** Skips (or, with CI set, fails) when /usr/bin/python3 cannot import torch and onnx. */
    static void requirePeer() throws IOException, InterruptedException {
        String missing = missingPeer();
        if (missing != null && System.getenv("CI") != null) {
            fail("the PyTorch peer is required when CI is set: " + missing);
        }
        assumeTrue(missing == null, () -> "skipped: the PyTorch peer cannot run: " + missing);
    }

    /** Why the peer cannot run here, or null when it can. */
    private static String missingPeer() throws IOException, InterruptedException {
        if (!Files.isExecutable(PYTHON)) {
            return PYTHON + " is missing; install Debian's python3-torch and python3-onnx";
        }
        Process probe = new ProcessBuilder(PYTHON.toString(), "-c", "import torch, onnx").redirectErrorStream(true).start();
        String out = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (probe.waitFor(120, TimeUnit.SECONDS) && probe.exitValue() == 0) {
            return null;
        }
        String[] lines = out.split("\n");
        return PYTHON + " cannot import torch and onnx (" + lines[lines.length - 1]
                + "); install Debian's python3-torch and python3-onnx";
    }
}
