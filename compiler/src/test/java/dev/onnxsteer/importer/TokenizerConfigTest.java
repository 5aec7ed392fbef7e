package dev.onnxsteer.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxsteer.TestPaths;
import dev.onnxsteer.gguf.GgufFile;
import dev.onnxsteer.gguf.GgufTensorInfo;
import dev.onnxsteer.gguf.GgufValue;
import dev.onnxsteer.gguf.GgufWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tokenizer_config.json is written for every import, from the GGUF's tokenizer metadata. */
class TokenizerConfigTest {
    static final String TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}";

    @TempDir
    Path tmp;

    @Test
    void sentencePieceDefaultsAddBosAndCarryNoTemplate() throws Exception {
        Path gguf = TestPaths.sharedModel("tiny-llama-quants/tiny-llama-F32.gguf");
        GgufImporter.importModel(gguf, tmp.resolve("plain"));
        JsonNode c = new ObjectMapper().readTree(tmp.resolve("plain/tokenizer_config.json").toFile());
        assertTrue(c.get("add_bos_token").asBoolean());
        assertFalse(c.get("add_eos_token").asBoolean());
        assertEquals("<s>", c.get("bos_token").asText());
        assertEquals("</s>", c.get("eos_token").asText());
        assertEquals("PreTrainedTokenizerFast", c.get("tokenizer_class").asText());
        assertFalse(c.has("chat_template"));
    }

    @Test
    void chatTemplateAndAddFlagsComeFromTheGguf() throws Exception {
        Path source = TestPaths.sharedModel("tiny-llama-quants/tiny-llama-F32.gguf");
        Path gguf = tmp.resolve("chat.gguf");
        GgufWriter writer = new GgufWriter();
        try (GgufFile file = GgufFile.open(source)) {
            file.metadata().asMap().forEach(writer::put);
            writer.put("tokenizer.chat_template", new GgufValue.Str(TEMPLATE));
            writer.put("tokenizer.ggml.add_bos_token", new GgufValue.Bool(false));
            writer.put("tokenizer.ggml.add_eos_token", new GgufValue.Bool(true));
            for (GgufTensorInfo t : file.tensors()) {
                writer.addTensor(t.name(), t.dims(), file.readFloats(t));
            }
        }
        writer.write(gguf);
        GgufImporter.importModel(gguf, tmp.resolve("chat"));
        ObjectMapper mapper = new ObjectMapper();
        JsonNode c = mapper.readTree(tmp.resolve("chat/tokenizer_config.json").toFile());
        assertEquals(TEMPLATE, c.get("chat_template").asText());
        assertFalse(c.get("add_bos_token").asBoolean());
        assertTrue(c.get("add_eos_token").asBoolean());
        // tokenizer.json agrees: the post-processor appends EOS and no BOS
        JsonNode single = mapper.readTree(tmp.resolve("chat/tokenizer.json").toFile()).get("post_processor").get("single");
        assertEquals(2, single.size(), single.toString());
        assertEquals("</s>", single.get(1).get("SpecialToken").get("id").asText());
    }
}
