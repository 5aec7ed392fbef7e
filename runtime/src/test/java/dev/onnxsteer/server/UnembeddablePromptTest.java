package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.session.SessionConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tokenizer whose post-processor adds an id beyond the model's vocabulary: the server answers the
 * prompt with a 400 naming the id and the vocabulary, instead of a batch failing inside ONNX Runtime.
 */
class UnembeddablePromptTest {
    @TempDir
    Path tmp;

    @Test
    void aPromptEncodedBeyondTheVocabularyIsA400NamingTheId() throws IOException {
        Path llama = TestPaths.testdata().resolve("llama-tiny");
        Path model = Files.createDirectories(tmp.resolve("llama-tiny"));
        try (Stream<Path> files = Files.list(llama)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Files.copy(p, model.resolve(p.getFileName()));
            }
        }
        String good = Files.readString(llama.resolve("tokenizer.json"));
        assertTrue(good.contains("\"post_processor\" : null"), "the fixture tokenizer has no post-processor yet");
        String template = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<x>\", \"type_id\": 0}}, "
                + "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
                + "{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], "
                + "\"special_tokens\": {\"<x>\": {\"id\": \"<x>\", \"ids\": [300], \"tokens\": [\"<x>\"]}}}";
        Files.writeString(model.resolve("tokenizer.json"), good.replace("\"post_processor\" : null", "\"post_processor\" : " + template));
        Path vectors = Files.createDirectories(tmp.resolve("vectors"));
        try (ServedModel served = ServedModel.open(ModelFiles.locate(model, null), vectors, SessionConfig.cpu());
                SteerServer server = SteerServer.start(served, ServerConfig.defaults().withPort(0))) {
            Http.Reply reply = Http.post(server.uri(), "/v1/completions", "{\"prompt\": \"hello\", \"max_tokens\": 4}");
            assertEquals(400, reply.status(), reply.body());
            assertEquals("prompt", reply.json().get("error").get("param").asText());
            assertEquals("the tokenizer encodes the prompt to token id 300, which llama-tiny cannot embed (its vocabulary is"
                    + " ids 0 to 255); the server's tokenizer.json does not fit its model",
                    reply.json().get("error").get("message").asText());
            assertEquals(200, Http.get(server.uri(), "/health").status(), "the server keeps serving");
        }
    }
}
