package dev.onnxsteer.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.extract.ContrastiveDataset;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.server.ApiError;
import dev.onnxsteer.server.CompletionRequest;
import dev.onnxsteer.server.RequestFields;
import java.nio.file.Path;

/**
 * Fuzz tests of what the runtime reads from users: config.json, tokenizer.json, dataset JSON Lines and the
 * server's completion requests. Files are read or refused as bad input ({@link FuzzChecks}); a request is
 * parsed or answered with a 400 whose message is one printable line. Seeds are committed under
 * {@code src/test/resources/dev/onnxsteer/fuzz/InputFuzzTestInputs/<method>/}, copied from testdata/.
 */
class InputFuzzTest {
    private static final Path WORK = FuzzChecks.workDirectory("inputs");
    private static final int MAX_TOKENS = 256;

    @FuzzTest
    void modelConfig(byte[] bytes) {
        Path file = FuzzChecks.write(WORK, "config.json", bytes);
        FuzzChecks.acceptsOrRefuses(file, () -> ModelConfig.load(WORK));
    }

    @FuzzTest
    void tokenizer(byte[] bytes) {
        Path file = FuzzChecks.write(WORK, "tokenizer.json", bytes);
        FuzzChecks.acceptsOrRefuses(file, () -> {
            try (Tokenizer tokenizer = Tokenizer.load(file)) {
                for (long id : tokenizer.encode("Once upon a time", true)) {
                    if (id < 0 || id >= tokenizer.vocabSize()) {
                        throw new AssertionError("the tokenizer produced id " + id + " outside its vocabulary of "
                                + tokenizer.vocabSize());
                    }
                }
            }
        });
    }

    @FuzzTest
    void dataset(byte[] bytes) {
        Path file = FuzzChecks.write(WORK, "pairs.jsonl", bytes);
        FuzzChecks.acceptsOrRefuses(file, () -> {
            ContrastiveDataset data = ContrastiveDataset.read(file);
            data.forEach(pair -> {
                if (pair.positive().equals(pair.negative())) {
                    throw new AssertionError("an identical pair was accepted: " + pair.origin());
                }
            });
        });
    }

    @FuzzTest
    void completionRequest(byte[] bytes) {
        try {
            JsonNode body = RequestFields.parse(bytes).node();
            CompletionRequest request = CompletionRequest.parse(body, MAX_TOKENS);
            if (request.maxTokens() < 1 || request.maxTokens() > MAX_TOKENS || request.stop().size() > CompletionRequest.MAX_STOP) {
                throw new AssertionError("accepted out of range: " + request);
            }
        } catch (ApiError e) {
            if (e.status() != 400) {
                throw new AssertionError("a malformed request answered " + e.status() + ": " + e.getMessage());
            }
            FuzzChecks.checkMessage(e.getMessage());
        }
    }
}
