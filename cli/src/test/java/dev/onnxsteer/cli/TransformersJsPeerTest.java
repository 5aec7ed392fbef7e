package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.peers.NodePeer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The model directories {@code import} and {@code compile} write run unchanged in transformers.js
 * ({@code peers/transformersjs/greedy.mjs}: onnxruntime-node, its own tokenizer, its own
 * generation loop) and give the tokens {@code generate} gives: a stories260K import, and a happy
 * vector compiled in by {@code --mode add} and by {@code --mode input} (whose vector and
 * coefficient inputs transformers.js leaves at their defaults).
 */
class TransformersJsPeerTest {
    private static final int TOKENS = 32;
    private static final long EOS = 2;
    private static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Lily wanted to");

    @TempDir
    Path tmp;

    @Test
    void importedAndCompiledDirectoriesGiveOurGreedyTokens() throws Exception {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        Path stories = tmp.resolve("stories");
        Path vector = tmp.resolve("happy.gguf");
        ok(run("import", gguf.toString(), "-o", stories.toString()));
        ok(run("extract", stories.toString(), "--dataset", TestPaths.testdata().resolve("happy-sad.jsonl").toString(),
                "--method", "mean", "--layers", "3", "--quiet", "--device", "cpu", "-o", vector.toString()));
        Map<String, Path> dirs = new LinkedHashMap<>();
        dirs.put("import", stories);
        for (String mode : List.of("add", "input")) {
            Path out = tmp.resolve("stories-" + mode);
            ok(run("compile", stories.toString(), "--vector", vector.toString(), "--coeff", "4", "--mode", mode,
                    "-o", out.toString()));
            dirs.put(mode, out);
        }
        Map<String, List<List<Long>>> tokensByDir = new LinkedHashMap<>();
        for (Map.Entry<String, Path> dir : dirs.entrySet()) {
            List<String> args = new ArrayList<>(List.of(dir.getValue().toString(), String.valueOf(TOKENS)));
            PROMPTS.forEach(prompt -> args.add("text:" + prompt));
            JsonNode runs = NodePeer.run("transformersjs", "greedy.mjs", args).get("runs");
            List<List<Long>> ours = new ArrayList<>();
            try (Tokenizer tokenizer = Tokenizer.load(dir.getValue())) {
                for (int i = 0; i < PROMPTS.size(); i++) {
                    String prompt = PROMPTS.get(i);
                    assertEquals(Arrays.stream(tokenizer.encode(prompt, true)).boxed().toList(), NodePeer.ids(runs.get(i).get("prompt")),
                            "transformers.js's tokenizer and ours give the same ids for '" + prompt + "'");
                    List<Long> generated = generate(dir.getValue(), prompt);
                    List<Long> theirs = NodePeer.ids(runs.get(i).get("tokens"));
                    if (!theirs.isEmpty() && theirs.get(theirs.size() - 1) == EOS) {
                        theirs = theirs.subList(0, theirs.size() - 1);
                    }
                    assertEquals(generated, theirs, dir.getKey() + ": transformers.js tokens after '" + prompt + "'");
                    ours.add(generated);
                }
            }
            tokensByDir.put(dir.getKey(), ours);
        }
        assertNotEquals(tokensByDir.get("import"), tokensByDir.get("add"), "the vector changes what is generated");
        assertEquals(tokensByDir.get("add"), tokensByDir.get("input"), "input mode at its defaults is add mode");
    }

    /** {@code generate --json}'s token ids. */
    private static List<Long> generate(Path dir, String prompt) throws Exception {
        CliRun generated = run("generate", dir.toString(), "--prompt", prompt, "--max-tokens", String.valueOf(TOKENS),
                "--device", "cpu", "--json");
        ok(generated);
        return NodePeer.ids(new ObjectMapper().readTree(generated.out()).get("token_ids"));
    }

    private static void ok(CliRun run) {
        assertEquals(0, run.code(), run.err());
    }
}
