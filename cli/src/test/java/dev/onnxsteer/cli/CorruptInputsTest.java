package dev.onnxsteer.cli;

import static dev.onnxsteer.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgmlType;
import dev.onnxsteer.gguf.GgufBytes;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufTensorInfo;
import dev.onnxsteer.proto.ModelProto;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import dev.onnxsteer.vectors.VectorMetadata;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every corrupted input of issue 15's mutation run, each as its own small mutant of a good file: the command
 * exits 3 with one printable line {@code error: FILE: ...} naming the file and the problem.
 */
class CorruptInputsTest {
    private static final Path LLAMA = TestPaths.testdata().resolve("llama-tiny");
    private static final int LLAMA_HIDDEN = 32;
    private static final Path STORIES = TestPaths.sharedModel("stories260K/stories260K.gguf");

    @TempDir
    Path tmp;

    /** Exit 3 and exactly one error line, printable, that names {@code file} and says each of {@code what}. */
    private static String assertBadFile(CliRun run, Path file, String... what) {
        assertEquals(Main.BAD_INPUT, run.code(), run.err());
        List<String> errors = run.err().lines().filter(l -> l.startsWith("error: ")).toList();
        assertEquals(1, errors.size(), run.err());
        String line = errors.get(0);
        assertTrue(line.contains(file.getFileName().toString()), "names the file: " + line);
        for (String w : what) {
            assertTrue(line.contains(w), "says '" + w + "': " + line);
        }
        assertTrue(line.codePoints().allMatch(c -> c >= 0x20 && c != 0x7f && c != 0xfffd), "printable: " + line);
        assertTrue(line.length() < 700, "short: " + line.length());
        assertFalse(line.contains("REDACTED") || line.contains("Input length"), "no library wording: " + line);
        return line;
    }

    private Path copyOf(Path file, String name) throws IOException {
        Path copy = tmp.resolve(name);
        Files.copy(file, copy, StandardCopyOption.REPLACE_EXISTING);
        copy.toFile().setWritable(true);
        return copy;
    }

    private static void putFloat(Path file, long offset, float value) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) offset, value);
        Files.write(file, bytes);
    }

    private static GgufTensorInfo firstF32Matrix(Path gguf) {
        try (GgufFile file = GgufFile.open(gguf)) {
            return file.tensors().stream().filter(t -> t.type() == GgmlType.F32 && t.dims().length == 2)
                    .findFirst().orElseThrow();
        }
    }

    @Test
    void ggufWithNonFiniteWeightsIsRefusedUnlessAllowed() throws IOException {
        Path gguf = copyOf(STORIES, "nan-weights.gguf");
        GgufTensorInfo tensor = firstF32Matrix(gguf);
        putFloat(gguf, tensor.fileOffset() + 4 * 5, Float.NaN);
        Path out = tmp.resolve("imported");
        assertBadFile(run("import", gguf.toString(), "-o", out.toString()), gguf,
                "tensor " + tensor.name(), "1 NaN or infinite value", "element 5", "--allow-nonfinite");
        assertFalse(Files.exists(out), "nothing imported");

        CliRun allowed = run("import", gguf.toString(), "-o", out.toString(), "--allow-nonfinite");
        assertEquals(Main.OK, allowed.code(), allowed.err());
    }

    @Test
    void ggufWhoseDataIsShiftedByADuplicatedChunkIsRefused() throws IOException {
        byte[] good = Files.readAllBytes(STORIES);
        long data;
        try (GgufFile file = GgufFile.open(STORIES)) {
            data = file.dataOffset();
        }
        int at = (int) data + 4096;
        byte[] shifted = new byte[good.length + 64];
        System.arraycopy(good, 0, shifted, 0, at);
        System.arraycopy(good, at - 64, shifted, at, 64); // the 64 bytes before `at`, once more
        System.arraycopy(good, at, shifted, at + 64, good.length - at);
        Path gguf = tmp.resolve("shifted.gguf");
        Files.write(gguf, shifted);
        assertBadFile(run("import", gguf.toString(), "-o", tmp.resolve("imported").toString()), gguf,
                "data section does not end with its last tensor", "found " + shifted.length + " bytes");
    }

    private Path llamaVector(String name) {
        Random random = new Random(3);
        float[] v = new float[LLAMA_HIDDEN];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        Path file = tmp.resolve(name);
        VectorFiles.write(SteeringVectors.of(Map.of(2, v), VectorMetadata.defaults()), file);
        return file;
    }

    @Test
    void vectorsWithAbsurdFiniteValuesAreRefusedUnlessAllowed() throws IOException {
        Path gguf = llamaVector("huge.gguf");
        try (GgufFile file = GgufFile.open(gguf)) {
            putFloat(gguf, file.tensor("direction.2").fileOffset() + 4 * 3, 3.9e23f);
        }
        String out = tmp.resolve("steered").toString();
        assertBadFile(run("compile", LLAMA.toString(), "--vector", gguf.toString(), "-o", out), gguf,
                "layer 2 vector is implausibly large", "at most 1.000e+05", "found 3.900e+23", "--allow-large-vectors");
        CliRun allowed = run("compile", LLAMA.toString(), "--vector", gguf.toString(), "-o", out, "--allow-large-vectors");
        assertEquals(Main.OK, allowed.code(), allowed.err());

        Path safetensors = llamaVector("huge.safetensors");
        long dataStart = 8 + ByteBuffer.wrap(Files.readAllBytes(safetensors), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        putFloat(safetensors, dataStart + 4 * 7, 2.3e38f);
        assertBadFile(run("compile", LLAMA.toString(), "--vector", safetensors.toString(), "-o", tmp.resolve("s").toString()),
                safetensors, "implausibly large", "found 2.300e+38");
    }

    private static byte[] safetensors(byte[] header, byte[] data) {
        ByteBuffer out = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(header.length).put(header).put(data);
        return out.array();
    }

    private static byte[] floats(int n) {
        ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            b.putFloat(0.25f * (i % 7) - 0.5f);
        }
        return b.array();
    }

    private static String tensorHeader(String metadata) {
        return "{" + metadata + "\"layers.2\":{\"dtype\":\"F32\",\"shape\":[" + LLAMA_HIDDEN + "],\"data_offsets\":[0,"
                + 4 * LLAMA_HIDDEN + "]}}";
    }

    private CliRun compileWith(Path vector) {
        return run("compile", LLAMA.toString(), "--vector", vector.toString(), "-o", tmp.resolve("out-" + vector.getFileName()).toString());
    }

    @Test
    void safetensorsHeadersAreReadExactly() throws IOException {
        Path good = llamaVector("good.safetensors");
        assertEquals(Main.OK, compileWith(good).code(), "the unmutated file compiles");

        byte[] bytes = Files.readAllBytes(good);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0) - 1);
        Path shortHeader = tmp.resolve("short-header.safetensors");
        Files.write(shortHeader, bytes);
        assertBadFile(compileWith(shortHeader), shortHeader, "data section does not end with the last tensor",
                "header length or the data is shifted");

        byte[] json = tensorHeader("").getBytes(StandardCharsets.UTF_8);
        byte[] withBinary = Arrays.copyOf(json, json.length + 4);
        withBinary[json.length] = 0x01;
        withBinary[json.length + 1] = (byte) 0x9b;
        withBinary[json.length + 2] = 0x1b;
        withBinary[json.length + 3] = ' ';
        Path binary = tmp.resolve("binary-header.safetensors");
        Files.write(binary, safetensors(withBinary, floats(LLAMA_HIDDEN)));
        assertBadFile(compileWith(binary), binary, "header: is not UTF-8 text (expected UTF-8, found byte 0x9b at offset");

        Path metadata = tmp.resolve("metadata-string.safetensors");
        Files.write(metadata, safetensors(tensorHeader("\"__metadata__\":\"x\",").getBytes(StandardCharsets.UTF_8),
                floats(LLAMA_HIDDEN)));
        assertBadFile(compileWith(metadata), metadata, "__metadata__ is not an object", "expected an object of strings");
    }

    @Test
    void aCorruptedSiteInAVectorFileIsABadFileNotAUsageError() throws IOException {
        Path vector = tmp.resolve("site.safetensors");
        Files.write(vector, safetensors(tensorHeader("\"__metadata__\":{\"onnx_steer.site\":\"besid_post\"},")
                .getBytes(StandardCharsets.UTF_8), floats(LLAMA_HIDDEN)));
        assertBadFile(compileWith(vector), vector, "onnx_steer.site is not a site kind", "found besid_post");
    }

    @Test
    void aControlVectorWhoseKeyCountIsShortNamesTheCountNotATensor() throws IOException {
        Path vector = llamaVector("kv-count.gguf");
        byte[] bytes = Files.readAllBytes(vector);
        ByteBuffer le = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        le.putLong(16, le.getLong(16) - 1);
        Files.write(vector, bytes);
        assertBadFile(compileWith(vector), vector, "the header's key/value count is wrong", "starts with the metadata key");
    }

    private Path modelWith(String file, String content) throws IOException {
        Path dir = tmp.resolve("model-" + Math.abs(content.hashCode()));
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(LLAMA)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Files.copy(p, dir.resolve(p.getFileName()));
            }
        }
        Files.writeString(dir.resolve(file), content);
        return dir;
    }

    private CliRun generate(Path model) {
        return run("generate", model.toString(), "--prompt", "Hi", "--max-tokens", "2", "--device", "cpu");
    }

    @Test
    void configJsonIsValidated() throws IOException {
        String good = Files.readString(LLAMA.resolve("config.json"));
        Path negative = modelWith("config.json", good.replace("\"hidden_size\" : 32", "\"hidden_size\" : -1"));
        assertBadFile(generate(negative), negative.resolve("config.json"), "\"hidden_size\"", "expected a positive integer", "found -1");
        Path object = modelWith("config.json", good.replace("\"eos_token_id\" : 2", "\"eos_token_id\" : {\"a\": 1}"));
        assertBadFile(generate(object), object.resolve("config.json"), "\"eos_token_id\"", "found {\"a\":1}");
        Path infinite = modelWith("config.json", good.replace("\"max_position_embeddings\" : 128",
                "\"max_position_embeddings\" : -1e999"));
        assertBadFile(generate(infinite), infinite.resolve("config.json"), "\"max_position_embeddings\"", "found -Infinity");
        Path eos = modelWith("config.json", good.replace("\"eos_token_id\" : 2", "\"eos_token_id\" : 256"));
        assertBadFile(generate(eos), eos.resolve("config.json"), "a token id from 0 to 255", "found 256");
        Path vocab = modelWith("config.json", good.replace("\"vocab_size\" : 256", "\"vocab_size\" : 300"));
        assertBadFile(generate(vocab), vocab.resolve("config.json"), "vocab_size disagrees with the graph", "found 300");
        Path broken = modelWith("config.json", good.substring(0, good.length() / 2));
        assertBadFile(generate(broken), broken.resolve("config.json"), "not valid JSON at line");
    }

    /**
     * No config.json key is needed to generate: sizes come from the graph, BOS/EOS from the tokenizer. A missing
     * key takes its documented default (docs/hostile-inputs.md) and the greedy continuation does not change.
     */
    @Test
    void configJsonKeysThatAreMissingTakeTheirDefaults() throws IOException {
        String good = Files.readString(LLAMA.resolve("config.json"));
        CliRun reference = generate(LLAMA);
        assertEquals(Main.OK, reference.code(), reference.err());
        for (String key : List.of("vocab_size", "max_position_embeddings", "hidden_size", "num_hidden_layers",
                "rms_norm_eps", "eos_token_id", "bos_token_id")) {
            String without = good.replaceFirst("\\s*\"" + key + "\" : [^,\\n]+,", "");
            assertFalse(without.contains("\"" + key + "\""), key + " removed");
            CliRun run = generate(modelWith("config.json", without));
            assertEquals(Main.OK, run.code(), key + ": " + run.err());
            assertEquals(reference.out(), run.out(), "same continuation without " + key);
        }
        CliRun empty = generate(modelWith("config.json", "{}"));
        assertEquals(Main.OK, empty.code(), empty.err());
        assertEquals(reference.out(), empty.out(), "same continuation from an empty config");
    }

    @Test
    void configJsonKeysOfTheWrongTypeAreRefusedNamingTheKey() throws IOException {
        String good = Files.readString(LLAMA.resolve("config.json"));
        Map<String, String[]> mutants = Map.of(
                "\"vocab_size\" : 256", new String[] {"\"vocab_size\" : \"256\"", "\"vocab_size\"", "expected a positive integer", "found \"256\""},
                "\"num_hidden_layers\" : 4", new String[] {"\"num_hidden_layers\" : 4.5", "\"num_hidden_layers\"", "expected a positive integer", "found 4.5"},
                "\"rms_norm_eps\" : 1.0E-5", new String[] {"\"rms_norm_eps\" : [1e-5]", "\"rms_norm_eps\"", "expected a positive finite number", "found [1.0E-5]"},
                "\"bos_token_id\" : 1", new String[] {"\"bos_token_id\" : true", "\"bos_token_id\"", "expected a token id from 0 to 255", "found true"},
                "\"eos_token_id\" : 2", new String[] {"\"eos_token_id\" : [2, \"x\"]", "\"eos_token_id\"", "expected a token id from 0 to 255", "found \"x\""});
        for (Map.Entry<String, String[]> mutant : mutants.entrySet()) {
            String[] change = mutant.getValue();
            assertTrue(good.contains(mutant.getKey()), mutant.getKey());
            Path model = modelWith("config.json", good.replace(mutant.getKey(), change[0]));
            assertBadFile(generate(model), model.resolve("config.json"), Arrays.copyOfRange(change, 1, change.length));
        }
    }

    @Test
    void tokenizerIdsMustFitTheModel() throws IOException {
        String good = Files.readString(LLAMA.resolve("tokenizer.json"));
        String vocabEntry = good.replaceFirst("(\"vocab\"\\s*:\\s*\\{\\s*\"[^\"]+\"\\s*:\\s*)\\d+", "$12147483648");
        Path huge = modelWith("tokenizer.json", vocabEntry);
        assertBadFile(generate(huge), huge.resolve("tokenizer.json"), "impossible token id", "found 2147483648");
        assertTrue(good.contains("\"added_tokens\" : [ ]"), "the fixture tokenizer has no added tokens yet");
        Path maxId = modelWith("tokenizer.json", withAddedToken(good, 2147483647));
        assertBadFile(generate(maxId), maxId.resolve("tokenizer.json"), "impossible token id", "found 2147483647");
        String beyond = withAddedToken(good, 300);
        Path unembeddable = modelWith("tokenizer.json", beyond);
        assertBadFile(generate(unembeddable), unembeddable.resolve("tokenizer.json"), "has 301 tokens",
                "vocabulary of 256", "does not belong to this model");
    }

    /** A post-processor may add ids the vocabulary does not count: reported against the tokenizer, not the prompt. */
    @Test
    void aPromptTheTokenizerEncodesBeyondTheVocabularyNamesTheTokenizer() throws IOException {
        String good = Files.readString(LLAMA.resolve("tokenizer.json"));
        assertTrue(good.contains("\"post_processor\" : null"), "the fixture tokenizer has no post-processor yet");
        String template = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<x>\", \"type_id\": 0}}, "
                + "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
                + "{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], "
                + "\"special_tokens\": {\"<x>\": {\"id\": \"<x>\", \"ids\": [300], \"tokens\": [\"<x>\"]}}}";
        Path model = modelWith("tokenizer.json", good.replace("\"post_processor\" : null", "\"post_processor\" : " + template));
        assertBadFile(generate(model), model.resolve("tokenizer.json"), "cannot embed",
                "expected ids from 0 to 255, the model's vocabulary of 256", "found 300");
    }

    private static String withAddedToken(String tokenizer, long id) {
        return tokenizer.replace("\"added_tokens\" : [ ]", "\"added_tokens\" : [ {\"id\": " + id + ", \"content\": \"<extra>\", "
                + "\"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true} ]");
    }

    @Test
    void datasetsRefuseIdenticalPairsAndInvalidUtf8WithTheLine() throws IOException {
        Path identical = tmp.resolve("identical.jsonl");
        Files.writeString(identical, "{\"positive\": \"happy\", \"negative\": \"sad\"}\n"
                + "{\"positive\": \"same\", \"negative\": \"same\"}\n");
        String out = tmp.resolve("v.safetensors").toString();
        assertBadFile(run("extract", LLAMA.toString(), "--dataset", identical.toString(), "--layers", "1", "-o", out,
                "--device", "cpu"), identical, "line 2", "the positive and negative sides are identical");

        Path utf8 = tmp.resolve("latin1.jsonl");
        byte[] line2 = "{\"positive\": \"caf\u00e9\", \"negative\": \"tea\"}\n".getBytes(StandardCharsets.ISO_8859_1);
        byte[] line1 = "{\"positive\": \"happy\", \"negative\": \"sad\"}\n".getBytes(StandardCharsets.UTF_8);
        byte[] all = Arrays.copyOf(line1, line1.length + line2.length);
        System.arraycopy(line2, 0, all, line1.length, line2.length);
        Files.write(utf8, all);
        assertBadFile(run("extract", LLAMA.toString(), "--dataset", utf8.toString(), "--layers", "1", "-o", out,
                "--device", "cpu"), utf8, "line 2", "is not valid UTF-8", "byte 0xe9 at column 18");
        assertFalse(Files.exists(Path.of(out)), "nothing written");
    }

    /** Jackson's own wording ("[Source: REDACTED ...]") never reaches the user: each JSON reader says where instead. */
    @Test
    void malformedJsonInEveryReaderIsReportedWithLineAndColumn() throws IOException {
        String tokenizer = Files.readString(LLAMA.resolve("tokenizer.json"));
        Path truncated = modelWith("tokenizer.json", tokenizer.substring(0, tokenizer.length() / 3));
        assertBadFile(generate(truncated), truncated.resolve("tokenizer.json"), "not valid JSON at line");

        Path header = tmp.resolve("truncated-header.safetensors");
        Files.write(header, safetensors("{\"layers.2\":{\"dtype\":\"F32\",   ".getBytes(StandardCharsets.UTF_8),
                floats(LLAMA_HIDDEN)));
        assertBadFile(compileWith(header), header, "not valid JSON at line 1");

        Path dataset = tmp.resolve("truncated.jsonl");
        Files.writeString(dataset, "{\"positive\": \"happy\", \"negative\": \"sad\"}\n{\"positive\": \"glad\", \"neg\n");
        assertBadFile(run("extract", LLAMA.toString(), "--dataset", dataset.toString(), "--layers", "1", "-o",
                tmp.resolve("t.gguf").toString(), "--device", "cpu"), dataset, "line 2", "not valid JSON at line 1");
    }

    /** Pairs that differ but cancel (each text once on either side): the mean difference is exactly zero. */
    @Test
    void pairsThatGiveAZeroVectorAreRefusedInsteadOfPrintingNaN() throws IOException {
        Path cancelling = tmp.resolve("cancelling.jsonl");
        Files.writeString(cancelling, "{\"positive\": \"happy\", \"negative\": \"sad\"}\n"
                + "{\"positive\": \"sad\", \"negative\": \"happy\"}\n");
        Path out = tmp.resolve("zero.safetensors");
        CliRun run = run("extract", LLAMA.toString(), "--dataset", cancelling.toString(), "--layers", "1", "--method", "mean",
                "--batch", "1", "-o", out.toString(), "--device", "cpu");
        assertBadFile(run, cancelling, "the pairs give no direction at layer 1",
                "expected pairs that differ after tokenization, found a vector of norm 0.0");
        assertFalse(run.out().contains("NaN"), run.out());
        assertFalse(Files.exists(out), "no zero vector written");
    }

    /** A fuzz finding (finding-unknown-element-type-of-a-value.onnx): an element type code ONNX does not define. */
    @Test
    void anOnnxValueOfAnUnknownElementTypeIsABadFileNotAUsageError() throws IOException {
        ModelProto good = ModelProto.parseFrom(Files.readAllBytes(LLAMA.resolve("model.onnx")));
        ModelProto.Builder mutant = good.toBuilder();
        mutant.getGraphBuilder().getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder().setElemType(33);
        Path model = modelWith("config.json", Files.readString(LLAMA.resolve("config.json")));
        Files.write(model.resolve("model.onnx"), mutant.build().toByteArray());
        assertBadFile(run("inspect", model.toString()), model.resolve("model.onnx"),
                "value '" + good.getGraph().getInput(0).getName() + "' has an unknown element type",
                "expected an ONNX data type code, found 33");
    }

    @Test
    void binaryBytesInAFileNeverReachTheTerminal() throws IOException {
        byte[] raw = new byte[332];
        new Random(1).nextBytes(raw);
        String key = new String(raw, StandardCharsets.ISO_8859_1);
        Path gguf = tmp.resolve("binary-key.gguf");
        Files.write(gguf, new GgufBytes().kvString("general.architecture", "llama").kvRaw(key, 99, new byte[0]).build());
        String line = assertBadFile(run("import", gguf.toString(), "-o", tmp.resolve("x").toString()), gguf,
                "unknown value type 99", "...");
        assertTrue(line.contains("\\x"), "control bytes escaped: " + line);
    }
}
