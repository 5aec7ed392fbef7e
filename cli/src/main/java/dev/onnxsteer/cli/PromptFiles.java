package dev.onnxsteer.cli;

import dev.onnxsteer.io.ModelFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Input checks that several commands share: the tokenizer a model needs and a file of prompts. */
final class PromptFiles {
    private PromptFiles() {}

    /** Refuses a model without a tokenizer, naming the option that supplies one. */
    static ModelFiles requireTokenizer(ModelFiles files) {
        if (files.tokenizer() == null) {
            throw new IllegalArgumentException("no tokenizer.json next to " + files.onnx() + "; pass --tokenizer PATH");
        }
        return files;
    }

    /** The non-blank lines of a prompts file (possibly none); refuses a file that does not exist. */
    static List<String> read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("prompts file " + file + " does not exist");
        }
        return Files.readAllLines(file, StandardCharsets.UTF_8).stream().filter(line -> !line.isBlank()).toList();
    }
}
