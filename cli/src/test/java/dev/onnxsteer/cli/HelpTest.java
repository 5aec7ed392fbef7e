package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What every command's --help and --version print, as the README shows them. */
class HelpTest {
    @ParameterizedTest
    @ValueSource(strings = {"import", "inspect", "compile", "generate", "parity", "extract", "sweep", "serve", "export-triton"})
    void everyCommandPrintsTheVersion(String command) {
        CliRun run = run(command, "--version");
        assertEquals(Main.OK, run.code(), run.err());
        assertEquals(run("--version").out(), run.out());
        assertTrue(run.out().startsWith("onnx-steer "), run.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"import", "inspect", "compile", "generate", "parity", "extract", "sweep", "serve", "export-triton"})
    void helpHasNoStrayEscapes(String command) {
        CliRun run = run(command, "--help");
        assertEquals(Main.OK, run.code(), run.err());
        assertFalse(run.out().contains("\\"), run.out());
    }

    @Test
    void serveHelpNamesTheApiKeyVariable() {
        assertTrue(run("serve", "--help").out().contains("(default: $ONNX_STEER_API_KEY"), run("serve", "--help").out());
    }

    @Test
    void anUnknownOptionIsOneLineThatPointsAtTheHelp() {
        CliRun run = run("inspect", "testdata/llama-tiny", "--jsn");
        assertEquals(Main.USAGE, run.code());
        assertEquals(1, run.err().lines().count(), run.err());
        assertTrue(run.err().startsWith("error: Unknown option: '--jsn'"), run.err());
        assertTrue(run.err().strip().endsWith("; try 'onnx-steer inspect --help'"), run.err());
        assertEquals("", run.out());
    }
}
