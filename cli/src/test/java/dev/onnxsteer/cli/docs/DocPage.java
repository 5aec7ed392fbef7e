package dev.onnxsteer.cli.docs;

import java.util.ArrayList;
import java.util.List;

/**
 * The runnable parts of one Markdown page, in order. See {@link DocTest} for the convention:
 * {@code ```sh} blocks are commands (an immediately following {@code ```text} block is their
 * output), {@code ```console} blocks are {@code $ command} lines each followed by its output, and
 * every other fence (plain {@code ```}, {@code ```json}, {@code ```java}, ...) is prose.
 */
record DocPage(String name, List<Step> steps) {

    /**
     * One thing to run.
     *
     * @param line the 1-based line of the page where the command starts, for messages
     * @param script bash text, run in the page's shell
     * @param expected the output the page shows, or null where it shows none (then only the exit status counts)
     * @param console a {@code $ command} of a console block: a non-zero exit is expected exactly when its
     *     output shows an {@code error:} line; an sh block must always exit 0
     */
    record Step(int line, String script, List<String> expected, boolean console) {
        boolean expectsFailure() {
            return console && expected != null && expected.stream().anyMatch(l -> l.startsWith("error:"));
        }
    }

    /** A fenced block: its info string, its 1-based opening and closing lines, and the lines between. */
    private record Fence(int line, int closing, String info, List<String> body) {}

    static DocPage parse(String name, String markdown) {
        List<String> lines = markdown.lines().toList();
        List<Fence> fences = fences(lines);
        List<Step> steps = new ArrayList<>();
        for (int i = 0; i < fences.size(); i++) {
            Fence fence = fences.get(i);
            if (fence.info().equals("sh")) {
                Fence next = i + 1 < fences.size() ? fences.get(i + 1) : null;
                boolean output = next != null && next.info().equals("text")
                        && lines.subList(fence.closing(), next.line() - 1).stream().allMatch(String::isBlank);
                steps.add(new Step(fence.line() + 1, String.join("\n", fence.body()), output ? next.body() : null, false));
                if (output) {
                    i++;
                }
            } else if (fence.info().equals("console")) {
                steps.addAll(consoleSteps(fence));
            }
        }
        return new DocPage(name, steps);
    }

    /** {@code $ command} lines (continued while a line ends in a backslash), each with the lines up to the next one. */
    private static List<Step> consoleSteps(Fence fence) {
        List<Step> steps = new ArrayList<>();
        List<String> body = fence.body();
        int i = 0;
        while (i < body.size() && body.get(i).isBlank()) {
            i++;
        }
        while (i < body.size()) {
            String first = body.get(i);
            if (!first.startsWith("$ ")) {
                throw new IllegalArgumentException("line " + (fence.line() + 1 + i) + ": a console block's text must start"
                        + " with a '$ ' command line, found: " + first);
            }
            int start = fence.line() + 1 + i;
            StringBuilder command = new StringBuilder(first.substring(2));
            while (command.toString().endsWith("\\") && i + 1 < body.size()) {
                i++;
                command.append('\n').append(body.get(i));
            }
            i++;
            List<String> output = new ArrayList<>();
            while (i < body.size() && !body.get(i).startsWith("$ ")) {
                output.add(body.get(i));
                i++;
            }
            // the blank line that separates one command's output from the next $ line is layout, not output
            while (!output.isEmpty() && output.get(output.size() - 1).isBlank()) {
                output.remove(output.size() - 1);
            }
            steps.add(new Step(start, command.toString(), output, true));
        }
        return steps;
    }

    /** Every fenced block with its info string and its 1-based opening line. */
    private static List<Fence> fences(List<String> lines) {
        List<Fence> fences = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (!line.startsWith("```")) {
                continue;
            }
            String info = line.substring(3).trim();
            int open = i;
            List<String> body = new ArrayList<>();
            i++;
            while (i < lines.size() && !lines.get(i).startsWith("```")) {
                body.add(lines.get(i));
                i++;
            }
            if (i == lines.size()) {
                throw new IllegalArgumentException("line " + (open + 1) + ": a code block is never closed");
            }
            fences.add(new Fence(open + 1, i + 1, info, body));
        }
        return fences;
    }
}
