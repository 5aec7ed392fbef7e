package dev.onnxsteer.cli.docs;

import dev.onnxsteer.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs one page's steps in a fresh copy of the repository, in one bash shell, and compares each
 * step's output with what the page shows. The copy is {@code TEMP/onnx-steer} with
 * {@code TEMP/shared} linking to the real {@code ../shared}, so the page's relative paths work.
 */
final class PageRun {
    private final Path root;
    private final List<Path> files;
    private final DocPage page;

    PageRun(Path root, List<Path> files, DocPage page) {
        this.root = root;
        this.files = files;
        this.page = page;
    }

    /** The failures, one message each; empty when the page is right. The copy is kept when something failed. */
    List<String> run(boolean show) throws IOException, InterruptedException {
        Path temp = Files.createTempDirectory("onnx-steer-doctest-");
        Path work = copyRepository(temp);
        Path steps = Files.createDirectories(temp.resolve("steps"));
        Files.writeString(temp.resolve("page.sh"), script(work, steps));
        ProcessBuilder builder = new ProcessBuilder("bash", temp.resolve("page.sh").toString()).directory(work.toFile())
                .redirectErrorStream(true).redirectOutput(temp.resolve("page.log").toFile());
        // a page runs the CLI dozens of times, each a short JVM: compiling only with C1 starts them about
        // a third faster and changes nothing they print (a caller's own setting wins)
        builder.environment().putIfAbsent("ONNX_STEER_JAVA_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC");
        Process bash = builder.start();
        boolean finished = bash.waitFor(DocTest.PAGE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        if (!finished) {
            bash.descendants().forEach(ProcessHandle::destroyForcibly);
            bash.destroyForcibly().waitFor();
        }
        List<String> failures = new ArrayList<>();
        boolean stopped = false;
        for (int i = 0; i < page.steps().size(); i++) {
            DocPage.Step step = page.steps().get(i);
            String where = "  " + page.name() + ":" + step.line() + ": " + firstLine(step.script());
            Path rc = steps.resolve(i + ".rc");
            List<String> output = Files.exists(steps.resolve(i + ".out"))
                    ? masked(Files.readString(steps.resolve(i + ".out")), work) : List.of();
            if (show) {
                System.out.println("$ " + step.script());
                output.forEach(System.out::println);
                System.out.println();
            }
            if (stopped) {
                continue;
            }
            if (!Files.exists(rc)) {
                // a failing command in an sh block ends the page (errexit); a timeout leaves no status either
                stopped = true;
                failures.add(where + "\n    " + (finished ? "failed with exit code " + bash.exitValue()
                        : "did not finish within " + DocTest.PAGE_TIMEOUT_SECONDS + " s") + "; it printed:"
                        + indented(output));
                continue;
            }
            int code = Integer.parseInt(Files.readString(rc).strip());
            if (step.expectsFailure() != (code != 0)) {
                failures.add(where + "\n    exit code " + code + ", expected " + (step.expectsFailure() ? "non-zero" : "0")
                        + "; it printed:" + indented(output));
            } else if (step.expected() != null && !OutputMatch.matches(step.expected(), output)) {
                failures.add(where + "\n    output differs from the page; the page shows:" + indented(step.expected())
                        + "\n    the command printed:" + indented(output));
            }
        }
        if (failures.isEmpty()) {
            AtomicFiles.deleteTree(temp);
        } else {
            failures.add("  (the page's copy is kept in " + temp + ")");
        }
        return failures;
    }

    /** The page as one bash script: each step sourced in the same shell, its output and exit status kept. */
    private String script(Path work, Path steps) throws IOException {
        StringBuilder script = new StringBuilder();
        script.append("set -uo pipefail\n");
        script.append("exec </dev/null\n");
        // background processes the page starts (a server) end with it
        script.append("trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n");
        script.append("cd ").append(quoted(work.toString())).append('\n');
        for (int i = 0; i < page.steps().size(); i++) {
            DocPage.Step step = page.steps().get(i);
            Path file = steps.resolve(i + ".sh");
            Files.writeString(file, step.script() + "\n");
            String out = quoted(steps.resolve(i + ".out").toString());
            String rc = quoted(steps.resolve(i + ".rc").toString());
            script.append(step.console() ? "set +e\n" : "set -e\n");
            script.append("{ source ").append(quoted(file.toString())).append("; } >").append(out).append(" 2>&1\n");
            script.append("echo $? >").append(rc).append('\n');
        }
        return script.toString();
    }

    private Path copyRepository(Path temp) throws IOException {
        Path work = Files.createDirectories(temp.resolve("onnx-steer"));
        for (Path file : files) {
            Path target = work.resolve(file.toString());
            Files.createDirectories(target.getParent());
            Files.copy(root.resolve(file), target, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        }
        // the built CLI, as after ./demo.sh's build; linked, since the pages only run it
        Path builtCli = Files.createDirectories(work.resolve("cli/target"));
        Files.createSymbolicLink(builtCli.resolve("onnx-steer.jar"), root.resolve("cli/target/onnx-steer.jar"));
        Files.createSymbolicLink(builtCli.resolve("lib"), root.resolve("cli/target/lib"));
        // npm packages that ./test.sh installed beside each package.json, linked as the built CLI is
        for (Path file : files) {
            if (file.getFileName().toString().equals("package.json")) {
                Path parent = file.getParent() == null ? Path.of("") : file.getParent();
                Path modules = root.resolve(parent.toString()).resolve("node_modules");
                if (Files.isDirectory(modules)) {
                    Files.createSymbolicLink(work.resolve(parent.toString()).resolve("node_modules"), modules.toRealPath());
                }
            }
        }
        Path shared = root.resolve("../shared").normalize();
        if (Files.isDirectory(shared)) {
            Files.createSymbolicLink(temp.resolve("shared"), shared.toRealPath());
        }
        return work;
    }

    /**
     * The output as lines, with the copy's location shown as {@link DocTest#REPOSITORY_PLACEHOLDER},
     * and without the line {@code --device auto} prints about the machine (CUDA used or not), which
     * differs between machines while everything else a page shows must not.
     */
    private static List<String> masked(String output, Path work) throws IOException {
        String text = output.replace(work.toRealPath().toString(), DocTest.REPOSITORY_PLACEHOLDER)
                .replace(work.toString(), DocTest.REPOSITORY_PLACEHOLDER);
        return text.lines().filter(line -> !line.startsWith(DEVICE_AUTO_LINE)).toList();
    }

    private static final String DEVICE_AUTO_LINE = "device auto: ";

    private static String quoted(String text) {
        return "'" + text.replace("'", "'\\''") + "'";
    }

    private static String firstLine(String script) {
        String first = script.lines().findFirst().orElse("");
        return first.length() > 100 ? first.substring(0, 100) + " ..." : first;
    }

    private static String indented(List<String> lines) {
        StringBuilder out = new StringBuilder();
        int shown = 0;
        for (String line : lines) {
            if (shown++ == 60) {
                out.append("\n      ... (").append(lines.size() - 60).append(" more lines)");
                break;
            }
            out.append("\n      ").append(line);
        }
        return out.toString();
    }
}
