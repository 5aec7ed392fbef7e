package dev.onnxsteer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.chat.ChatFormat;
import dev.onnxsteer.chat.ChatMessage;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.SamplingConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.io.IOException;
import java.io.PrintWriter;
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

    @Mixin
    DeviceOptions devices;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "Model directory or .onnx file.")
    Path model;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "A prompt (repeatable; give at least one --prompt or --prompts).")
    List<String> promptTexts = new ArrayList<>();

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

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json (default: the one in the model directory).")
    Path tokenizerPath;

    @Option(names = "--json", description = "Print one JSON object per prompt instead of streaming text.")
    boolean json;

    @Mixin
    SteeringOptions steering;

    @Option(names = "--chat", description = "Treat each prompt as a user message: render it with the model's chat"
            + " template (or --chat-template) and generate the assistant's reply up to its end-of-turn token.")
    boolean chat;

    @Option(names = "--chat-template", paramLabel = "FILE",
            description = "A Jinja chat template to use instead of the model's chat_template (implies --chat).")
    Path chatTemplate;

    @Option(names = "--system", paramLabel = "TEXT", description = "With --chat: a system message before each prompt.")
    String system;

    @Option(names = "--compare", description = "With --vector: print the unsteered and steered continuations of each "
            + "prompt (same seed) one under the other.")
    boolean compare;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<String> prompts = prompts();
        if (compare && !steering.present()) {
            throw new IllegalArgumentException("--compare needs --vector FILE: it prints unsteered and steered text side by side");
        }
        SamplingConfig sampling = new SamplingConfig(temperature, topK, topP, repetitionPenalty,
                seed == null ? OptionalLong.empty() : OptionalLong.of(seed));
        GenerationConfig generation = new GenerationConfig(maxTokens, sampling, stops, List.of(), true);
        ModelFiles files = PromptFiles.requireTokenizer(ModelFiles.locate(model, tokenizerPath));
        ModelConfig config = ModelConfig.load(files.directory());
        SessionConfig sessionConfig = devices.sessionConfig(err);
        try (Tokenizer tokenizer = Tokenizer.load(files.tokenizer(), config)) {
            Conversation conversation = conversation(tokenizer);
            generation = conversation.generation(generation);
            if (!steering.present()) {
                try (ModelSession session = SessionFactory.open(files.onnx(), sessionConfig)) {
                    verbose(err, session, files);
                    Generator generator = Generator.create(session, tokenizer, config);
                    if (json) {
                        ConditionsSeen seen = new ConditionsSeen();
                        printJson(out, conversation.generate(generator, prompts, generation, seen), null, seen);
                    } else {
                        stream(out, generator, conversation, prompts, generation);
                    }
                }
                return Main.OK;
            }
            Compilation.Result steered = Compilation.compile(files, steering::steerings, steering.mode(),
                    steering.options());
            try (ModelSession session = SessionFactory.open(steered.model(), files.onnx() + " (steered)", sessionConfig)) {
                verbose(err, session, files);
                Generator generator = Generator.create(session, tokenizer, config);
                if (!compare) {
                    if (json) {
                        ConditionsSeen seen = new ConditionsSeen();
                        printJson(out, conversation.generate(generator, prompts, generation, seen), null, seen);
                    } else {
                        stream(out, generator, conversation, prompts, generation);
                    }
                    return Main.OK;
                }
                List<Generation> withSteering = conversation.generate(generator, prompts, generation, TokenListener.NONE);
                List<Generation> without;
                try (ModelSession plain = SessionFactory.open(files.onnx(), sessionConfig)) {
                    without = conversation.generate(Generator.create(plain, tokenizer, config), prompts, generation,
                            TokenListener.NONE);
                }
                if (json) {
                    printJson(out, without, withSteering);
                } else {
                    for (int i = 0; i < prompts.size(); i++) {
                        String echo = conversation.chat() ? "" : prompts.get(i);
                        out.println(labelled("prompt:   ", prompts.get(i)));
                        out.println(labelled("original: ", echo + without.get(i).text()));
                        out.println(labelled("steered:  ", echo + withSteering.get(i).text()));
                        if (i + 1 < prompts.size()) {
                            out.println();
                        }
                    }
                    out.flush();
                }
            }
        }
        return Main.OK;
    }

    /**
     * One labelled entry of a comparison: lines after the first are indented under the label, so a
     * continuation that starts a new line still reads as part of it, and trailing newlines are dropped
     * so the blank line between prompts stays one.
     */
    static String labelled(String label, String text) {
        return label + text.stripTrailing().replace("\n", "\n" + " ".repeat(label.length()));
    }

    private void verbose(PrintWriter err, ModelSession session, ModelFiles files) {
        if (common.verbose) {
            err.println("model " + files.onnx() + " on " + session.device() + ", tokenizer " + files.tokenizer());
        }
    }

    /** Streams each prompt and its continuation; in chat mode only the assistant's reply. */
    private static void stream(PrintWriter out, Generator generator, Conversation conversation, List<String> prompts,
            GenerationConfig generation) {
        for (String text : prompts) {
            if (!conversation.chat()) {
                out.print(text);
                out.flush();
            }
            conversation.generate(generator, List.of(text), generation, (row, tokenId, piece) -> {
                if (!piece.isEmpty()) {
                    out.print(piece);
                    out.flush();
                }
            });
            out.println();
            out.flush();
        }
    }

    /** Plain prompts, or with --chat each prompt as a user message (after --system) rendered by the chat template. */
    private record Conversation(ChatFormat format, String system) {
        boolean chat() {
            return format != null;
        }

        GenerationConfig generation(GenerationConfig generation) {
            return chat() ? generation.withEosTokenIds(format.stopIds()) : generation;
        }

        List<Generation> generate(Generator generator, List<String> prompts, GenerationConfig generation,
                TokenListener listener) {
            if (!chat()) {
                return generator.generate(prompts, generation, ExtraInputs.NONE, listener);
            }
            List<long[]> ids = new ArrayList<>();
            for (String prompt : prompts) {
                List<ChatMessage> messages = new ArrayList<>();
                if (system != null) {
                    messages.add(new ChatMessage("system", system));
                }
                messages.add(new ChatMessage("user", prompt));
                ids.add(generator.requireEmbeddable(format.encode(messages)));
            }
            return generator.generateIds(ids, generation, ExtraInputs.NONE, listener);
        }
    }

    private Conversation conversation(Tokenizer tokenizer) {
        if (!chat && chatTemplate == null) {
            if (system != null) {
                throw new IllegalArgumentException("--system needs --chat: it is the system message of a conversation");
            }
            return new Conversation(null, null);
        }
        ChatFormat format = ChatFormat.load(tokenizer, chatTemplate).orElseThrow(() -> new IllegalArgumentException(
                "--chat: " + model + " has no chat template (no chat_template in tokenizer_config.json);"
                        + " give one with --chat-template FILE"));
        return new Conversation(format, system);
    }

    /** One JSON object per prompt; with {@code steered}, the object holds both continuations. */
    private static void printJson(PrintWriter out, List<Generation> results, List<Generation> steered) throws IOException {
        printJson(out, results, steered, new ConditionsSeen());
    }

    private static void printJson(PrintWriter out, List<Generation> results, List<Generation> steered,
            ConditionsSeen seen) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        for (int i = 0; i < results.size(); i++) {
            ObjectNode node = toJson(mapper, results.get(i));
            seen.annotate(node, i);
            if (steered != null) {
                ObjectNode both = mapper.createObjectNode();
                both.put("prompt", results.get(i).prompt());
                both.set("original", node);
                both.set("steered", toJson(mapper, steered.get(i)));
                node = both;
            }
            out.println(mapper.writeValueAsString(node));
        }
        out.flush();
    }

    private List<String> prompts() throws IOException {
        List<String> all = new ArrayList<>();
        all.addAll(promptTexts);
        if (promptsFile != null) {
            all.addAll(PromptFiles.read(promptsFile));
        }
        if (all.isEmpty()) {
            throw new IllegalArgumentException("nothing to generate from: pass --prompt TEXT or --prompts FILE");
        }
        return all;
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
