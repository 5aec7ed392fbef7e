package dev.onnxsteer.server;

import dev.onnxsteer.chat.ChatFormat;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.CompiledModelAbi;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Path;
import dev.onnxsteer.sites.SiteKind;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What a server runs: the model compiled in memory with per-row steering inputs at every site the
 * registered vectors use, its session, tokenizer and generator, and the {@link RowSteering} that
 * feeds those inputs. Closing it closes the session, tokenizer and steering.
 */
public final class ServedModel implements AutoCloseable {
    private final String name;
    private final ModelSession session;
    private final Tokenizer tokenizer;
    private final ModelConfig config;
    private final Generator generator;
    private final VectorStore vectors;
    private final RowSteering steering;
    private final Optional<ChatFormat> chat;
    private final Map<SiteKind, SortedSet<Integer>> steeringSites;
    private final SaeRegistry saes;

    private ServedModel(String name, ModelSession session, Tokenizer tokenizer, ModelConfig config,
            VectorStore vectors, SaeRegistry saes, InputModeSteering steering, Optional<ChatFormat> chat) {
        this.steeringSites = steering.steerable();
        this.saes = saes;
        this.name = name;
        this.chat = chat;
        this.session = session;
        this.tokenizer = tokenizer;
        this.config = config;
        this.vectors = vectors;
        this.steering = steering;
        this.generator = Generator.create(session, tokenizer, config);
    }

    /**
     * Opens {@code files} for serving with the vectors in {@code vectorsDir} (every {@code .gguf} and
     * {@code .safetensors} file there).
     *
     * @throws IllegalArgumentException when the model has no tokenizer
     */
    public static ServedModel open(ModelFiles files, Path vectorsDir, SessionConfig sessionConfig) {
        return open(files, vectorsDir, sessionConfig, ServeOptions.DEFAULTS);
    }

    /**
     * Like {@link #open(ModelFiles, Path, SessionConfig)} with {@code options}. Unless vectors are
     * read-only, the served model also takes steering at {@code resid_post} of every layer, so vectors
     * uploaded there later can be served without a restart; it always takes it at the sites of the SAEs
     * in {@code options}.
     *
     * @throws dev.onnxsteer.BadInputException when a vector file or an SAE directory cannot be read or does not fit
     */
    public static ServedModel open(ModelFiles files, Path vectorsDir, SessionConfig sessionConfig, ServeOptions options) {
        if (files.tokenizer() == null) {
            throw new IllegalArgumentException("no tokenizer.json next to " + files.onnx() + "; serve needs one");
        }
        AtomicReference<VectorRegistry> registry = new AtomicReference<>();
        Compilation.Result compiled = Compilation.compile(files, sites -> {
            registry.set(VectorRegistry.load(vectorsDir, sites, options.allowLargeVectors()));
            return List.of();
        }, Mode.INPUT);
        Map<SiteKind, SortedSet<Integer>> steerable = new LinkedHashMap<>();
        if (!options.readOnlyVectors()) {
            SortedSet<Integer> all = new TreeSet<>();
            for (int layer = 0; layer < compiled.sites().layerCount(); layer++) {
                if (!compiled.sites().find(SiteKind.RESID_POST, layer).isEmpty()) {
                    all.add(layer);
                }
            }
            steerable.put(SiteKind.RESID_POST, all);
        }
        registry.get().sitesUsed().forEach((kind, layers) ->
                steerable.computeIfAbsent(kind, k -> new TreeSet<>()).addAll(layers));
        SaeRegistry saes = SaeRegistry.load(options.saes(), compiled.sites());
        saes.sitesUsed().forEach((kind, layers) -> steerable.computeIfAbsent(kind, k -> new TreeSet<>()).addAll(layers));
        InputModeSteering steering = InputModeSteering.prepare(compiled.model(), compiled.sites(), steerable,
                options.ablateClamp());
        VectorStore store = new VectorStore(vectorsDir, compiled.sites(), steering.steerable(), registry.get(),
                options.readOnlyVectors(), options.maxVectorBytes(), options.allowLargeVectors());
        ModelConfig config = ModelConfig.load(files.directory());
        String label = files.onnx() + " (served)";
        ModelSession session = SessionFactory.open(compiled.model(), label, sessionConfig);
        Tokenizer tokenizer = null;
        try {
            tokenizer = Tokenizer.load(files.tokenizer(), config);
            Optional<ChatFormat> chat = ChatFormat.load(tokenizer, options.chatTemplate());
            return new ServedModel(modelName(files), session, tokenizer, config, store, saes, steering, chat);
        } catch (RuntimeException e) {
            if (tokenizer != null) {
                tokenizer.close();
            }
            session.close();
            throw e;
        }
    }

    private static String modelName(ModelFiles files) {
        Path dir = files.directory();
        String file = files.onnx().getFileName().toString();
        return file.equals(ModelFiles.MODEL_FILE) && dir.getFileName() != null ? dir.getFileName().toString()
                : file.replaceFirst("\\.onnx$", "");
    }

    /** The model's name as reported in responses (its directory name). */
    public String name() {
        return name;
    }

    public ModelSession session() {
        return session;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public ModelConfig config() {
        return config;
    }

    public Generator generator() {
        return generator;
    }

    /**
     * Whether the model was compiled with a steering condition ({@code compile --condition}): each row then
     * carries the graph's decision as state, and answers report it as {@code steering.condition_met}.
     */
    public boolean conditional() {
        return session.ort().getInputNames().contains(CompiledModelAbi.CONDITION_PAST);
    }

    /** The vectors now (a request takes this once and keeps it). */
    public VectorRegistry vectors() {
        return vectors.current();
    }

    /** The names of the SAEs requests may take features of ({@code serve --sae NAME=DIR}), sorted. */
    public List<String> saeNames() {
        return saes.names();
    }

    SaeRegistry saes() {
        return saes;
    }

    /** The sites the served model takes steering at: site kind to layers. */
    public Map<SiteKind, SortedSet<Integer>> steeringSites() {
        return steeringSites;
    }

    /** Uploads and deletes at run time. */
    public VectorStore vectorStore() {
        return vectors;
    }

    public RowSteering steering() {
        return steering;
    }

    /** How conversations become prompts; empty when the model has no chat template and none was given. */
    public Optional<ChatFormat> chat() {
        return chat;
    }

    @Override
    public void close() {
        try {
            steering.close();
            tokenizer.close();
        } finally {
            session.close();
        }
    }

    @Override
    public String toString() {
        return name + " on " + session.device() + " with vectors " + vectors().names();
    }
}
