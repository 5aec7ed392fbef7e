package dev.onnxsteer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Generation whose ids hold malformed byte-fallback runs: the text and the streamed pieces are the HF decode. */
class ByteFallbackGenerationTest {
    @TempDir
    Path tmp;

    @Test
    void textAndStreamedPiecesAreTheHuggingFaceDecode() {
        Path dir;
        ModelConfig config;
        try (Tokenizer probe = Tokenizer.load(dev.onnxsteer.TestModels.stories260K())) {
            dir = ScriptedModel.write(tmp.resolve("scripted"), probe.encode("Once", true).length, ByteFallbackText.IDS);
        }
        config = ModelConfig.load(dir);
        try (ModelSession session = SessionFactory.open(dir.resolve("model.onnx"), SessionConfig.cpu());
                Tokenizer tokenizer = Tokenizer.load(dir, config)) {
            StringBuilder streamed = new StringBuilder();
            Generation result = Generator.create(session, tokenizer, config).generate(List.of("Once"),
                    GenerationConfig.greedy(40), ExtraInputs.NONE, (row, id, piece) -> streamed.append(piece)).get(0);
            assertEquals(Tokenizer.boxed(ByteFallbackText.IDS), result.tokenIds());
            assertEquals(FinishReason.EOS, result.finishReason());
            long[] all = Tokenizer.concat(tokenizer.encode("Once", true), result.tokenIds());
            assertEquals(tokenizer.decode(all, true), "Once " + ByteFallbackText.TEXT, "HF decodes the whole sequence so");
            assertEquals(" " + ByteFallbackText.TEXT, result.text());
            assertEquals(result.text(), streamed.toString());
        }
    }
}
