package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.vectors.SaeFixture;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --vector sae:DIR#FEATURE} steers exactly as the same decoder row given as a plain vector file. */
class SaeVectorCommandTest {
    @TempDir
    Path tmp;

    private static final String LLAMA = TestPaths.testdata().resolve("llama-tiny").toString();
    private final SaeFixture fixture = new SaeFixture(32, 48, 5);

    @Test
    void anSaeFeatureCompilesToTheSameGraphAsItsRowAsAVectorFile() throws Exception {
        Path sae = fixture.write(tmp.resolve("sae"), "blocks.2.hook_resid_post", false);
        Path plain = tmp.resolve("row.safetensors");
        VectorFiles.write(SteeringVectors.of(Map.of(2, fixture.row(7)), VectorMetadata.defaults()), plain);

        Path fromSae = tmp.resolve("from-sae");
        Path fromFile = tmp.resolve("from-file");
        CliRun a = run("compile", LLAMA, "--vector", "sae:" + sae + "#7:2.5", "-o", fromSae.toString());
        assertEquals(Main.OK, a.code(), a.err());
        CliRun b = run("compile", LLAMA, "--vector", plain + ":2.5", "-o", fromFile.toString());
        assertEquals(Main.OK, b.code(), b.err());
        assertArrayEquals(Files.readAllBytes(fromFile.resolve(ModelFiles.MODEL_FILE)),
                Files.readAllBytes(fromSae.resolve(ModelFiles.MODEL_FILE)));
    }

    @Test
    void aHiddenSizeMismatchAnUnknownHookAndAFeatureOutOfRangeAreBadInput() throws Exception {
        Path wide = new SaeFixture(64, 8, 1).write(tmp.resolve("wide"), "blocks.1.hook_resid_post", false);
        CliRun mismatch = run("compile", LLAMA, "--vector", "sae:" + wide + "#0", "-o", tmp.resolve("a").toString());
        assertEquals(Main.BAD_INPUT, mismatch.code(), mismatch.err());
        assertTrue(mismatch.err().contains("hidden size 32"), mismatch.err());
        assertEquals(1, mismatch.err().strip().lines().count(), mismatch.err());

        Path z = fixture.write(tmp.resolve("z"), "blocks.1.attn.hook_z", false);
        CliRun hook = run("compile", LLAMA, "--vector", "sae:" + z + "#0", "-o", tmp.resolve("b").toString());
        assertEquals(Main.BAD_INPUT, hook.code(), hook.err());
        assertTrue(hook.err().contains("hook_name is not a hook onnx-steer can steer"), hook.err());

        Path sae = fixture.write(tmp.resolve("sae"), "blocks.1.hook_resid_post", false);
        CliRun range = run("compile", LLAMA, "--vector", "sae:" + sae + "#48", "-o", tmp.resolve("c").toString());
        assertEquals(Main.BAD_INPUT, range.code(), range.err());
        assertTrue(range.err().contains("has no feature 48"), range.err());
    }
}
