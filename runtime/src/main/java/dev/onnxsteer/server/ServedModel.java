package dev.onnxsteer.server;

import dev.onnxsteer.chat.ChatFormat;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Path;
import java.util.List;
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
    private final VectorRegistry vectors;
    private final RowSteering steering;
    private final Optional<ChatFormat> chat;

    private ServedModel(String name, ModelSession session, Tokenizer tokenizer, ModelConfig config,
            VectorRegistry vectors, RowSteering steering, Optional<ChatFormat> chat) {
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
        return open(files, vectorsDir, sessionConfig, null);
    }

    /**
     * Like {@link #open(ModelFiles, Path, SessionConfig)}, with the chat template in {@code chatTemplate}
     * (null: the model's own {@code chat_template}, if it has one).
     */
    public static ServedModel open(ModelFiles files, Path vectorsDir, SessionConfig sessionConfig, Path chatTemplate) {
        if (files.tokenizer() == null) {
            throw new IllegalArgumentException("no tokenizer.json next to " + files.onnx() + "; serve needs one");
        }
        AtomicReference<VectorRegistry> registry = new AtomicReference<>();
        Compilation.Result compiled = Compilation.compile(files, sites -> {
            registry.set(VectorRegistry.load(vectorsDir, sites));
            return List.of();
        }, Mode.INPUT);
        InputModeSteering steering = InputModeSteering.prepare(compiled.model(), compiled.sites(), registry.get());
        ModelConfig config = ModelConfig.load(files.directory());
        String label = files.onnx() + " (served)";
        ModelSession session = SessionFactory.open(compiled.model(), label, sessionConfig);
        Tokenizer tokenizer = null;
        try {
            tokenizer = Tokenizer.load(files.tokenizer(), config);
            Optional<ChatFormat> chat = ChatFormat.load(tokenizer, chatTemplate);
            return new ServedModel(modelName(files), session, tokenizer, config, registry.get(), steering, chat);
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

    public VectorRegistry vectors() {
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
        return name + " on " + session.device() + " with vectors " + vectors.names();
    }
}
