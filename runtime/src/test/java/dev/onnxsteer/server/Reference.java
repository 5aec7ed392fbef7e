package dev.onnxsteer.server;

import dev.onnxsteer.chat.ChatFormat;
import dev.onnxsteer.chat.ChatMessage;
import dev.onnxsteer.generate.ExtraInputs;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.TokenListener;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * What {@code generate} produces for a prompt: the plain model, or the model compiled (mode add,
 * as {@code generate --vector FILE:C} does) with the vector files a request's steering names.
 */
final class Reference {
    private Reference() {}

    static Generation generate(String prompt, GenerationConfig config, List<SteeringTerm> steering) {
        return run(steering, (generator, tokenizer) -> generator.generate(List.of(prompt), config).get(0));
    }

    /** What {@code generate --chat --chat-template TEMPLATE} produces for {@code messages}. */
    static Generation chat(List<ChatMessage> messages, Path template, GenerationConfig config, List<SteeringTerm> steering) {
        return run(steering, (generator, tokenizer) -> {
            ChatFormat format = ChatFormat.load(tokenizer, template).orElseThrow();
            return generator.generateIds(List.of(format.encode(messages)), config.withEosTokenIds(format.stopIds()),
                    ExtraInputs.NONE, TokenListener.NONE).get(0);
        });
    }

    private static Generation run(List<SteeringTerm> steering, BiFunction<Generator, Tokenizer, Generation> generate) {
        ModelFiles files = Stories.files();
        ModelConfig modelConfig = ModelConfig.load(files.directory());
        try (Tokenizer tokenizer = Tokenizer.load(files.tokenizer(), modelConfig)) {
            if (steering.isEmpty()) {
                try (ModelSession session = SessionFactory.open(files.onnx(), SessionConfig.cpu())) {
                    return generate.apply(Generator.create(session, tokenizer, modelConfig), tokenizer);
                }
            }
            List<Steering> steerings = new ArrayList<>();
            for (SteeringTerm term : steering) {
                Path file = findVectorFile(term.vector());
                SteeringVectors v = VectorFiles.read(file);
                SiteKind kind = SiteKind.parse(v.metadata().site());
                for (int layer : v.layerIndices()) {
                    steerings.add(new Steering(kind, layer, v.layer(layer), term.scale()));
                }
            }
            Compilation.Result compiled = Compilation.compile(files, steerings, Mode.ADD);
            try (ModelSession session = SessionFactory.open(compiled.model(), "reference", SessionConfig.cpu())) {
                return generate.apply(Generator.create(session, tokenizer, modelConfig), tokenizer);
            }
        }
    }

    private static Path findVectorFile(String name) {
        for (String ext : List.of(".gguf", ".safetensors")) {
            Path p = Stories.vectors().resolve(name + ext);
            if (p.toFile().isFile()) {
                return p;
            }
        }
        throw new AssertionError("no vector file " + name);
    }

}
