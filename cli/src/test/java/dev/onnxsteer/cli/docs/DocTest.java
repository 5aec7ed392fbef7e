package dev.onnxsteer.cli.docs;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Documentation is tested: every command in README.md and docs/*.md runs as pasted, and its output
 * must be what the page shows. {@code ./test.sh} runs this after the build:
 * {@code java -cp 'cli/target/test-classes:cli/target/lib/*' dev.onnxsteer.cli.docs.DocTest [--show] [PAGE.md ...]}.
 *
 * <p>The convention, for everyone who writes a page:
 * <ul>
 *   <li>A {@code ```sh} block is commands, run by bash from the repository root. Every command in it
 *       must succeed. A {@code ```text} block right after it (blank lines between are fine) is the
 *       output of the whole block, stdout and stderr together.</li>
 *   <li>A {@code ```console} block is {@code $ command} lines (a line ending in {@code \} continues
 *       the command), each followed by its output. Such a command must exit 0, unless the output it
 *       shows has an {@code error:} line; then it must exit non-zero.</li>
 *   <li>In shown output, a line {@code ...} stands for any number of lines, {@code [...]} for any text
 *       within a line (timings, ids, timestamps), and {@code /path/to/onnx-steer} for the directory
 *       the repository is in. Trailing whitespace does not count, nor the one line {@code --device auto}
 *       prints about the machine ({@code device auto: CUDA not used ...}); everything else does.</li>
 *   <li>Every other block ({@code ```} without a language, {@code ```json}, {@code ```java}) is not run:
 *       synopses with {@code [options]}, the build and test commands themselves, benchmarks.</li>
 *   <li>Each page runs on its own, in a fresh copy of the repository (tracked and untracked files
 *       that git does not ignore, plus the built CLI), with {@code ../shared} beside it; its blocks
 *       share one shell, in page order. So a page makes every file it uses, and names them after
 *       itself ({@code models/serving-stories}, {@code out/operations/...}) so that a reader who
 *       follows every page in one clone never has one page overwrite another's files.</li>
 *   <li>A background process a page starts ({@code serve ... &}) is stopped when the page ends.</li>
 * </ul>
 * {@code --show} prints what each command printed, to paste into a page after checking it.
 */
public final class DocTest {
    static final String REPOSITORY_PLACEHOLDER = "/path/to/onnx-steer";
    static final long PAGE_TIMEOUT_SECONDS = 300;

    private DocTest() {}

    public static void main(String[] args) throws Exception {
        boolean show = false;
        List<Path> pages = new ArrayList<>();
        for (String arg : args) {
            if (arg.equals("--show")) {
                show = true;
            } else {
                pages.add(Path.of(arg));
            }
        }
        Path root = Path.of("").toAbsolutePath();
        if (!Files.isRegularFile(root.resolve("cli/target/onnx-steer.jar"))) {
            System.err.println("doc-test: cli/target/onnx-steer.jar is missing; build first (mvn -B -DskipTests package)");
            System.exit(2);
        }
        if (pages.isEmpty()) {
            pages = defaultPages(root);
        }
        List<Path> files = repositoryFiles(root);
        // pages are independent, so two run at a time; their reports are printed in page order
        ExecutorService pool = Executors.newFixedThreadPool(show ? 1 : 2);
        List<Future<Report>> reports = new ArrayList<>();
        for (Path page : pages) {
            DocPage parsed = DocPage.parse(page.toString(), Files.readString(root.resolve(page)));
            boolean showing = show;
            reports.add(pool.submit(() -> report(root, files, parsed, showing)));
        }
        int failed = 0;
        for (Future<Report> report : reports) {
            Report done = report.get();
            System.out.println(done.text());
            System.out.flush();
            if (!done.passed()) {
                failed++;
            }
        }
        pool.shutdown();
        System.exit(failed == 0 ? 0 : 1);
    }

    /** What one page's run prints, and whether it passed. */
    private record Report(String text, boolean passed) {}

    private static Report report(Path root, List<Path> files, DocPage page, boolean show) throws Exception {
        if (page.steps().isEmpty()) {
            return new Report("doc-test: " + page.name() + ": no sh or console blocks", true);
        }
        long start = System.nanoTime();
        List<String> failures = new PageRun(root, files, page).run(show);
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        if (failures.isEmpty()) {
            return new Report("doc-test: " + page.name() + ": " + page.steps().size() + " commands as shown (" + seconds + " s)",
                    true);
        }
        return new Report("doc-test: " + page.name() + ": FAILED (" + seconds + " s)\n" + String.join("\n", failures), false);
    }

    /** README.md and every docs/*.md, so a page added later is tested without anyone listing it. */
    static List<Path> defaultPages(Path root) throws IOException {
        List<Path> pages = new ArrayList<>();
        pages.add(Path.of("README.md"));
        try (Stream<Path> docs = Files.list(root.resolve("docs"))) {
            docs.filter(p -> p.getFileName().toString().endsWith(".md")).sorted(Comparator.naturalOrder())
                    .forEach(p -> pages.add(root.relativize(p)));
        }
        return pages;
    }

    /** What a fresh clone would hold, with this working tree's edits: tracked and untracked, not ignored. */
    private static List<Path> repositoryFiles(Path root) throws IOException, InterruptedException {
        Process git = new ProcessBuilder("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
                .directory(root.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String listing = new String(git.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (git.waitFor() != 0) {
            throw new IllegalStateException("git ls-files failed in " + root);
        }
        List<Path> files = new ArrayList<>();
        for (String name : listing.split("\0")) {
            if (!name.isEmpty() && Files.isRegularFile(root.resolve(name))) {
                files.add(Path.of(name));
            }
        }
        return files;
    }
}
