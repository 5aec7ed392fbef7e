package dev.onnxsteer.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onnxsteer.generate.ByteFallbackText;
import dev.onnxsteer.generate.ScriptedModel;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.session.SessionConfig;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Served completions whose ids hold malformed byte-fallback runs: chunks and final text are HF's decode. */
class ByteFallbackServingTest {
    @TempDir
    Path tmp;

    @Test
    void streamedChunksAndTheWholeTextAreTheHuggingFaceDecode() throws IOException {
        Path dir = ScriptedModel.write(tmp.resolve("scripted"), 2, ByteFallbackText.IDS); // [BOS, ▁Once]
        Path vectors = Files.createDirectories(tmp.resolve("vectors"));
        try (ServedModel model = ServedModel.open(ModelFiles.locate(dir, null), vectors, SessionConfig.cpu())) {
            SteerServer server = SteerServer.start(model, ServerConfig.defaults().withPort(0));
            try {
                URI base = server.uri();
                String request = "{\"prompt\": \"Once\", \"max_tokens\": 40, \"temperature\": 0, \"stream\": %s}";
                JsonNode whole = Http.post(base, "/v1/completions", request.formatted("false")).json();
                assertEquals(" " + ByteFallbackText.TEXT, whole.get("choices").get(0).get("text").asText());

                List<String> events = Http.events(Http.post(base, "/v1/completions", request.formatted("true")).body());
                assertEquals("[DONE]", events.get(events.size() - 1));
                StringBuilder chunks = new StringBuilder();
                for (String event : events.subList(0, events.size() - 1)) {
                    chunks.append(Http.JSON.readTree(event).get("choices").get(0).get("text").asText());
                }
                assertEquals(" " + ByteFallbackText.TEXT, chunks.toString());
            } finally {
                server.stop();
            }
        }
    }
}
