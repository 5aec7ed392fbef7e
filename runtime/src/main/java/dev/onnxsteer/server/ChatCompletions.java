package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.chat.ChatFormat;
import dev.onnxsteer.chat.ChatTemplateException;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code POST /v1/chat/completions}: the messages are rendered by the model's {@link ChatFormat},
 * tokenized, and generated like a completion until one of the template's end-of-turn tokens;
 * answers and server-sent-event chunks have OpenAI's chat shapes ({@code chat.completion},
 * {@code chat.completion.chunk} with {@code delta}s, a first chunk carrying the role). A model
 * without a chat template is a 400, as in vLLM.
 */
final class ChatCompletions {
    private final SteerServer server;

    ChatCompletions(SteerServer server) {
        this.server = server;
    }

    /** Answers one request (the server counts it as in flight meanwhile). */
    void respond(Context ctx) throws IOException {
        server.refuseWhileDraining(ctx);
        ServedModel model = server.model();
        ChatFormat format = model.chat().orElseThrow(() -> ApiError.badRequest("messages", model.name()
                + " has no chat template (no chat_template in tokenizer_config.json); start serve with"
                + " --chat-template FILE, or use /v1/completions"));
        ChatRequest request = ChatRequest.parse(server.readBody(ctx), server.config().maxTokensLimit());
        BoundSteering steering = server.bindSteering(request.steering());
        long[] ids;
        try {
            ids = format.encode(request.messages());
        } catch (ChatTemplateException e) {
            throw ApiError.badRequest("messages", "the chat template refused the messages: " + e.getMessage());
        }
        server.checkPrompt(ids, "messages");
        GenerationConfig generation = request.generation().withEosTokenIds(format.stopIds());
        String prompt = format.render(request.messages());
        CompletionJob job = new CompletionJob(prompt, ids, generation, steering,
                server.config().requestTimeout().toNanos());
        server.admit(ctx, job);
        String id = server.nextId("chatcmpl");
        long created = System.currentTimeMillis() / 1000;
        if (request.stream()) {
            ObjectNode pieceChunk = chunk(id, created, model.name());
            delta(pieceChunk).put("content", JsonTemplate.HOLE);
            JsonTemplate piece = JsonTemplate.of(pieceChunk);
            server.stream(ctx, job, new EventStream.Format() {
                @Override
                public List<String> opening() {
                    ObjectNode first = chunk(id, created, model.name());
                    ObjectNode delta = delta(first);
                    delta.put("role", "assistant");
                    delta.put("content", "");
                    return List.of(first.toString());
                }

                @Override
                public void piece(String text, StringBuilder data) {
                    piece.appendTo(data, text);
                }

                @Override
                public List<String> closing(Generation g) {
                    List<String> events = new ArrayList<>();
                    ObjectNode last = chunk(id, created, model.name());
                    delta(last);
                    ObjectNode choice = (ObjectNode) last.get("choices").get(0);
                    choice.put("finish_reason", SteerServer.finishReason(g.finishReason()));
                    SteerServer.reportCondition(choice, job);
                    events.add(last.toString());
                    if (request.includeUsage()) {
                        ObjectNode usage = envelope(id, created, model.name(), "chat.completion.chunk");
                        usage.putArray("choices");
                        usage.set("usage", SteerServer.usage(g));
                        events.add(usage.toString());
                    }
                    return events;
                }
            });
            return;
        }
        Generation g = server.awaitAnswer(ctx, job);
        ObjectNode root = envelope(id, created, model.name(), "chat.completion");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant");
        message.put("content", g.text());
        message.putNull("refusal");
        choice.putNull("logprobs");
        choice.put("finish_reason", SteerServer.finishReason(g.finishReason()));
        SteerServer.reportCondition(choice, job);
        root.set("usage", SteerServer.usage(g));
        ctx.contentType("application/json").result(root.toString());
    }

    private static ObjectNode envelope(String id, long created, String model, String object) {
        ObjectNode root = SteerServer.JSON.createObjectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", model);
        return root;
    }

    /** A stream chunk with one choice whose {@code finish_reason} is null until the last. */
    private static ObjectNode chunk(String id, long created, String model) {
        ObjectNode root = envelope(id, created, model, "chat.completion.chunk");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        choice.putObject("delta");
        choice.putNull("logprobs");
        choice.putNull("finish_reason");
        return root;
    }

    private static ObjectNode delta(ObjectNode chunk) {
        return (ObjectNode) chunk.get("choices").get(0).get("delta");
    }
}
