package dev.onnxsteer.cli.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The doc-test convention: which blocks run, what output they must print, and how shown output is matched. */
class DocPageTest {
    private static final String PAGE = String.join("\n",
            "# page",
            "```",
            "./onnx-steer import FILE -o DIR [--json]",
            "```",
            "```sh",
            "mkdir -p out/page",
            "```",
            "",
            "```sh",
            "echo hi",
            "```",
            "",
            "```text",
            "hi",
            "```",
            "```console",
            "$ ./onnx-steer compile a \\",
            "    -o b",
            "resid_post.2 ...",
            "",
            "$ ./onnx-steer compile x",
            "error: unknown site",
            "```",
            "```json",
            "{\"not\": \"run\"}",
            "```");

    @Test
    void onlyShellAndConsoleBlocksRunAndTextRightAfterShellIsItsOutput() {
        List<DocPage.Step> steps = DocPage.parse("page.md", PAGE).steps();
        assertEquals(4, steps.size(), steps.toString());
        assertEquals("mkdir -p out/page", steps.get(0).script());
        assertNull(steps.get(0).expected(), "no output shown: only the exit status counts");
        assertEquals(6, steps.get(0).line());
        assertEquals(List.of("hi"), steps.get(1).expected());
        assertEquals("./onnx-steer compile a \\\n    -o b", steps.get(2).script());
        assertEquals(List.of("resid_post.2 ..."), steps.get(2).expected());
        assertFalse(steps.get(2).expectsFailure());
        assertTrue(steps.get(3).expectsFailure(), "an error: line means the command must fail");
    }

    @Test
    void shownOutputMatchesWithEllipsesAndNothingElse() {
        assertTrue(OutputMatch.matches(List.of("a", "...", "d"), List.of("a", "b", "c", "d")));
        assertTrue(OutputMatch.matches(List.of("a", "...", "b"), List.of("a", "b")), "... may stand for no lines");
        assertTrue(OutputMatch.matches(List.of("took [...] ms  "), List.of("took 12.5 ms", "")));
        assertFalse(OutputMatch.matches(List.of("a", "d"), List.of("a", "b", "d")));
        assertFalse(OutputMatch.matches(List.of("KL 0.228"), List.of("KL 0.731")));
        assertFalse(OutputMatch.matches(List.of("took [...] ms"), List.of("took 12.5 s")));
        assertFalse(OutputMatch.matches(List.of("a"), List.of("a", "b")), "output the page does not show counts");
    }
}
