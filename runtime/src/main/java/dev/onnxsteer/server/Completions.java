package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onnxsteer.generate.Generation;
import io.javalin.http.Context;
import java.io.IOException;
import java.util.List;

/**
 * {@code POST /v1/completions}: OpenAI completions ({@code text_completion} objects, streamed as
 * server-sent events when asked) with the request's {@code steering}.
 */
final class Completions {
    private final SteerServer server;

    Completions(SteerServer server) {
        this.server = server;
    }

    /** Answers one request (the server counts it as in flight meanwhile). */
    void respond(Context ctx) throws IOException {
        server.refuseWhileDraining(ctx);
        CompletionRequest request = CompletionRequest.parse(server.readBody(ctx), server.config().maxTokensLimit());
        BoundSteering steering = server.bindSteering(request.steering());
        long[] ids = server.encode(request.prompt());
        CompletionJob job = new CompletionJob(request.prompt(), ids, request.generation(), steering,
                server.config().requestTimeout().toNanos());
        server.admit(ctx, job);
        String id = server.nextId("cmpl");
        long created = System.currentTimeMillis() / 1000;
        String model = server.model().name();
        if (request.stream()) {
            JsonTemplate piece = JsonTemplate.of(chunk(id, created, model, JsonTemplate.HOLE, null));
            server.stream(ctx, job, new EventStream.Format() {
                @Override
                public void piece(String text, StringBuilder data) {
                    piece.appendTo(data, text);
                }

                @Override
                public List<String> closing(Generation g) {
                    ObjectNode last = chunk(id, created, model, "", SteerServer.finishReason(g.finishReason()));
                    SteerServer.reportCondition((ObjectNode) last.get("choices").get(0), job);
                    last.set("usage", SteerServer.usage(g));
                    return List.of(last.toString());
                }
            });
            return;
        }
        Generation g = server.awaitAnswer(ctx, job);
        ObjectNode root = chunk(id, created, model, g.text(), SteerServer.finishReason(g.finishReason()));
        SteerServer.reportCondition((ObjectNode) root.get("choices").get(0), job);
        root.set("usage", SteerServer.usage(g));
        ctx.contentType("application/json").result(root.toString());
    }

    /** A {@code text_completion} with one choice; {@code finish} is null until the last chunk. */
    private static ObjectNode chunk(String id, long created, String model, String text, String finish) {
        ObjectNode root = SteerServer.JSON.createObjectNode();
        root.put("id", id);
        root.put("object", "text_completion");
        root.put("created", created);
        root.put("model", model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("text", text);
        choice.put("index", 0);
        choice.putNull("logprobs");
        if (finish == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finish);
        }
        return root;
    }
}
