package dev.onnxsteer.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.BadModelException;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.SamplingConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.session.Device;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code onnx-steer generate MODEL --prompt TEXT}: text generation with KV cache, streamed to stdout. */
@Command(name = "generate", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = {"Generate text with a model directory (model.onnx, tokenizer.json, optional config.json)"
                + " or a .onnx file plus --tokenizer.",
                "Streams the prompt and its continuation to stdout; --json prints one JSON object per prompt."})
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "Model directory or .onnx file.")
    Path model;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "The prompt.")
    String prompt;

    @Option(names = "--prompts", paramLabel = "FILE", description = "A file with one prompt per line (blank lines skipped).")
    Path promptsFile;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "64", description = "Most tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0", description = "0 = greedy (default).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "0", description = "Keep the K most likely tokens; 0 = off.")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1", description = "Nucleus sampling mass; 1 = off.")
    double topP;

    @Option(names = "--repetition-penalty", paramLabel = "R", defaultValue = "1", description = "HF repetition penalty; 1 = off.")
    double repetitionPenalty;

    @Option(names = "--seed", paramLabel = "S", description = "Sampling seed (same seed, same tokens).")
    Long seed;

    @Option(names = "--stop", paramLabel = "STR", description = "Stop when the generated text contains STR (repeatable).")
    List<String> stops = new ArrayList<>();

    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", description = "auto, cpu, cuda or cuda:N (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Intra-op threads; 0 = ONNX Runtime default.")
    int threads;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json (default: the one in the model directory).")
    Path tokenizerPath;

    @Option(names = "--json", description = "Print one JSON object per prompt instead of streaming text.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<String> prompts = prompts();
        Device target = Device.parse(device);
        SamplingConfig sampling = new SamplingConfig(temperature, topK, topP, repetitionPenalty,
                seed == null ? OptionalLong.empty() : OptionalLong.of(seed));
        GenerationConfig generation = new GenerationConfig(maxTokens, sampling, stops, List.of(), true);
        Path modelFile = modelFile(model);
        Path modelDir = Files.isDirectory(model) ? model : modelFile.toAbsolutePath().getParent();
        Path tokenizerFile = tokenizerPath != null ? tokenizerPath : modelDir.resolve("tokenizer.json");
        if (tokenizerPath == null && !Files.isRegularFile(tokenizerFile)) {
            throw new IllegalArgumentException("no tokenizer.json next to " + modelFile + "; pass --tokenizer PATH");
        }
        ModelConfig config = ModelConfig.load(modelDir);
        SessionConfig sessionConfig = SessionConfig.defaults().withDevice(target).withThreads(threads, 0)
                .withDiagnostics(line -> {
                    err.println(line);
                    err.flush();
                });
        try (Tokenizer tokenizer = Tokenizer.load(tokenizerFile, config);
                ModelSession session = SessionFactory.open(modelFile, sessionConfig)) {
            if (common.verbose) {
                err.println("model " + modelFile + " on " + session.device() + ", tokenizer " + tokenizerFile);
            }
            Generator generator = Generator.create(session, tokenizer, config);
            if (json) {
                ObjectMapper mapper = new ObjectMapper();
                for (Generation result : generator.generate(prompts, generation)) {
                    out.println(mapper.writeValueAsString(toJson(mapper, result)));
                }
                out.flush();
            } else {
                for (String text : prompts) {
                    out.print(text);
                    out.flush();
                    generator.generate(List.of(text), generation, ExtraInputs.NONE, (row, tokenId, piece) -> {
                        if (!piece.isEmpty()) {
                            out.print(piece);
                            out.flush();
                        }
                    });
                    out.println();
                    out.flush();
                }
            }
        }
        return Main.OK;
    }

    private List<String> prompts() throws IOException {
        List<String> all = new ArrayList<>();
        if (prompt != null) {
            all.add(prompt);
        }
        if (promptsFile != null) {
            if (!Files.isRegularFile(promptsFile)) {
                throw new IllegalArgumentException("prompts file " + promptsFile + " does not exist");
            }
            for (String line : Files.readAllLines(promptsFile, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    all.add(line);
                }
            }
        }
        if (all.isEmpty()) {
            throw new IllegalArgumentException("nothing to generate from: pass --prompt TEXT or --prompts FILE");
        }
        return all;
    }

    /** The .onnx file of a model argument: the file itself, or model.onnx / genai_config's file / the only .onnx in a directory. */
    static Path modelFile(Path model) throws IOException {
        if (Files.isRegularFile(model)) {
            return model;
        }
        if (!Files.isDirectory(model)) {
            throw new BadModelException("model " + model + " does not exist");
        }
        Path standard = model.resolve("model.onnx");
        if (Files.isRegularFile(standard)) {
            return standard;
        }
        Path genai = model.resolve("genai_config.json");
        if (Files.isRegularFile(genai)) {
            JsonNode name = new ObjectMapper().readTree(genai.toFile()).path("model").path("decoder").path("filename");
            if (name.isTextual() && Files.isRegularFile(model.resolve(name.asText()))) {
                return model.resolve(name.asText());
            }
        }
        List<Path> candidates = new ArrayList<>();
        try (DirectoryStream<Path> onnx = Files.newDirectoryStream(model, "*.onnx")) {
            onnx.forEach(candidates::add);
        }
        if (candidates.size() == 1) {
            return candidates.get(0);
        }
        throw new BadModelException("model directory " + model + " has no model.onnx"
                + (candidates.isEmpty() ? "" : " and several .onnx files " + candidates + "; name one"));
    }

    private static ObjectNode toJson(ObjectMapper mapper, Generation result) {
        ObjectNode node = mapper.createObjectNode();
        node.put("prompt", result.prompt());
        node.put("text", result.text());
        ArrayNode ids = node.putArray("token_ids");
        result.tokenIds().forEach(ids::add);
        node.put("finish_reason", result.finishReason().wireName());
        node.put("prompt_tokens", result.promptTokens());
        node.put("generated_tokens", result.generatedTokens());
        node.put("prefill_ms", Math.round(result.prefillMs() * 1000) / 1000.0);
        node.put("decode_tokens_per_s", Math.round(result.decodeTokensPerSecond() * 100) / 100.0);
        return node;
    }
}
