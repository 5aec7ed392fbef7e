package dev.onnxsteer.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.BadInputException;
import dev.onnxsteer.BadModelException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Where a model argument's files are: a model directory ({@code model.onnx}, {@code tokenizer.json},
 * {@code config.json}) or a single {@code .onnx} file with an optional tokenizer beside it.
 */
public record ModelFiles(Path onnx, Path tokenizer, Path config) {

    public static final String MODEL_FILE = "model.onnx";
    public static final String TOKENIZER_FILE = "tokenizer.json";
    public static final String CONFIG_FILE = "config.json";

    /**
     * Resolves a model argument. {@code tokenizerOverride} (may be null) wins over a tokenizer found
     * next to the model. Missing tokenizer/config are null; a missing model is an error.
     */
    public static ModelFiles locate(Path argument, Path tokenizerOverride) {
        Path onnx;
        if (Files.isDirectory(argument)) {
            Path candidate = argument.resolve(MODEL_FILE);
            Path named = genaiDecoderFile(argument);
            if (Files.isRegularFile(candidate)) {
                onnx = candidate;
            } else if (named != null) {
                onnx = named;
            } else {
                List<Path> found = onnxFilesIn(argument);
                if (found.size() != 1) {
                    throw new BadModelException(FileProblem.message(argument, "is not a model directory",
                            "a model directory with " + MODEL_FILE + " (or exactly one .onnx file)", found.isEmpty()
                                    ? "no .onnx file" : found.size() + ": " + found.stream().map(p -> p.getFileName().toString()).toList()));
                }
                onnx = found.get(0);
            }
        } else if (Files.isRegularFile(argument)) {
            onnx = argument;
        } else if (Files.exists(argument)) {
            throw new BadModelException(FileProblem.message(argument, "is not a model", "a model directory or .onnx file",
                    "neither a regular file nor a directory"));
        } else {
            throw new BadModelException(FileProblem.message(argument, "does not exist", "a model directory or .onnx file",
                    "no such file or directory"));
        }
        Path dir = onnx.toAbsolutePath().getParent();
        Path tokenizer = tokenizerOverride != null ? tokenizerOverride : existing(dir.resolve(TOKENIZER_FILE));
        if (tokenizerOverride != null && !Files.isRegularFile(tokenizerOverride)) {
            throw new BadModelException(FileProblem.message(tokenizerOverride, "does not exist", "a tokenizer.json file",
                    "nothing at that path"));
        }
        return new ModelFiles(onnx, tokenizer, existing(dir.resolve(CONFIG_FILE)));
    }

    /** The files this model is read from (the .onnx file, tokenizer and config where present), for output checks. */
    public List<Path> paths() {
        return Stream.of(onnx, tokenizer, config).filter(p -> p != null).toList();
    }

    /** The directory holding the .onnx file (external data paths are relative to it). */
    public Path directory() {
        return onnx.toAbsolutePath().getParent();
    }

    /** The decoder file an onnxruntime-genai folder names in genai_config.json, if any. */
    private static Path genaiDecoderFile(Path dir) {
        Path genai = dir.resolve("genai_config.json");
        if (!Files.isRegularFile(genai)) {
            return null;
        }
        JsonNode name;
        try {
            name = JsonFiles.read(genai).path("model").path("decoder").path("filename");
        } catch (BadInputException e) {
            throw new BadModelException(e.getMessage(), e);
        }
        return name.isTextual() && Files.isRegularFile(dir.resolve(name.asText())) ? dir.resolve(name.asText()) : null;
    }

    private static Path existing(Path path) {
        return Files.isRegularFile(path) ? path : null;
    }

    private static List<Path> onnxFilesIn(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".onnx") && Files.isRegularFile(p)).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
