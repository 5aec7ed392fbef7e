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

/**
 * Runs one of the Node programs under {@code peers/} (programs that share no code with
 * onnx-steer) and reads the JSON it prints. When node or the program's npm packages are missing
 * the test is skipped with a message saying how to install them; with the environment variable
 * {@code CI} set it fails instead, so a CI machine never passes by skipping a peer.
 */
public final class NodePeer {
    private NodePeer() {}

    /** Output of {@code node peers/DIR/SCRIPT ARGS...} run from the repository root, parsed as JSON. */
    public static JsonNode run(String dir, String script, List<String> args) {
        Path root = TestPaths.root();
        Path program = root.resolve("peers").resolve(dir);
        require(nodeWorks(), "node is not on PATH");
        require(Files.isDirectory(program.resolve("node_modules")),
                "peers/" + dir + "/node_modules is missing (run: cd peers/" + dir + " && npm ci)");
        List<String> command = new ArrayList<>(List.of("node", program.resolve(script).toString()));
        command.addAll(args);
        try {
            Path errors = Files.createTempFile("onnx-steer-peer", ".err");
            try {
                Process process = new ProcessBuilder(command).directory(root.toFile())
                        .redirectError(errors.toFile()).start();
                process.getOutputStream().close();
                String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                int code = process.waitFor();
                assertEquals(0, code, "peer " + String.join(" ", command) + " failed: " + Files.readString(errors));
                return new ObjectMapper().readTree(out);
            } finally {
                Files.deleteIfExists(errors);
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run peer " + command + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while running peer " + command, e);
        }
    }

    /** A JSON array of token ids, as the peers print them. */
    public static List<Long> ids(JsonNode array) {
        List<Long> ids = new ArrayList<>();
        array.forEach(id -> ids.add(id.asLong()));
        return ids;
    }

    private static void require(boolean present, String missing) {
        String message = "peer unavailable: " + missing + "; ./test.sh installs the peers";
        if (!present && System.getenv("CI") != null) {
            fail(message + " (CI is set, so a missing peer is a failure, not a skip)");
        }
        assumeTrue(present, "skipped: " + message);
    }

    private static boolean nodeWorks() {
        try {
            Process process = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            process.getInputStream().readAllBytes();
            return process.waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
