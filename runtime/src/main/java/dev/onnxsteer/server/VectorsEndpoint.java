package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.http.Context;
import java.io.IOException;

/**
 * {@code GET /v1/vectors} (the vectors now, with their provenance), {@code POST /v1/vectors?name=NAME}
 * (the body is a {@code .gguf} or {@code .safetensors} file) and {@code DELETE /v1/vectors/NAME}. All
 * sit behind the API key like every {@code /v1} path; {@link VectorStore} does the checking.
 */
final class VectorsEndpoint {
    private final SteerServer server;

    VectorsEndpoint(SteerServer server) {
        this.server = server;
    }

    void list(Context ctx) {
        ObjectNode root = SteerServer.JSON.createObjectNode();
        root.put("object", "list");
        ArrayNode data = root.putArray("data");
        for (VectorRegistry.Entry e : server.model().vectors().entries()) {
            data.add(describe(e));
        }
        VectorStore store = server.model().vectorStore();
        root.put("read_only", store.readOnly());
        root.put("steerable", VectorStore.describe(server.model().steeringSites()));
        ctx.contentType("application/json").result(root.toString());
    }

    void upload(Context ctx) throws IOException {
        VectorStore store = server.model().vectorStore();
        if (store.readOnly()) {
            throw refusal(new VectorStore.Refusal(VectorStore.Reason.READ_ONLY,
                    "vectors are read-only on this server (--read-only-vectors)"));
        }
        String name = ctx.queryParam("name");
        if (name == null || name.isEmpty()) {
            throw ApiError.badRequest("name", "name the vector: POST /v1/vectors?name=NAME with the .gguf or .safetensors"
                    + " file as the body");
        }
        byte[] body = RequestBody.bytes(ctx, store.maxBytes(), 413);
        try {
            VectorRegistry.Entry entry = store.add(name.replaceFirst("\\.(gguf|safetensors)$", ""), body);
            ctx.status(201).contentType("application/json").result(describe(entry).toString());
        } catch (VectorStore.Refusal e) {
            throw refusal(e);
        }
    }

    void delete(Context ctx) {
        try {
            VectorRegistry.Entry entry = server.model().vectorStore().remove(ctx.pathParam("name"));
            ObjectNode root = SteerServer.JSON.createObjectNode();
            root.put("name", entry.name());
            root.put("object", "vector");
            root.put("deleted", true);
            ctx.contentType("application/json").result(root.toString());
        } catch (VectorStore.Refusal e) {
            throw refusal(e);
        }
    }

    private static ApiError refusal(VectorStore.Refusal e) {
        return switch (e.reason()) {
            case READ_ONLY -> new ApiError(403, "permission_error", null, e.getMessage());
            case UNKNOWN -> new ApiError(404, "not_found_error", "name", e.getMessage());
            case EXISTS -> new ApiError(409, "conflict_error", "name", e.getMessage());
            case TOO_LARGE -> new ApiError(413, "invalid_request_error", null, e.getMessage());
            case BAD_NAME -> ApiError.badRequest("name", e.getMessage());
            case BAD_FILE, NOT_STEERABLE -> ApiError.badRequest(null, e.getMessage());
        };
    }

    private static ObjectNode describe(VectorRegistry.Entry e) {
        ObjectNode v = SteerServer.JSON.createObjectNode();
        v.put("name", e.name());
        v.put("object", "vector");
        v.put("site", e.kind().label());
        ArrayNode layers = v.putArray("layers");
        e.vectors().layerIndices().forEach(layers::add);
        v.put("hidden_size", e.vectors().hiddenSize());
        v.put("method", e.vectors().metadata().method());
        ObjectNode norms = v.putObject("norms");
        e.norms().forEach((layer, norm) -> norms.put(Integer.toString(layer), norm));
        ObjectNode provenance = v.putObject("provenance");
        provenance.put("origin", e.origin());
        provenance.put("file", e.file().getFileName().toString());
        provenance.put("sha256", e.sha256());
        String sourceModel = e.vectors().metadata().sourceModelHash();
        if (sourceModel == null) {
            provenance.putNull("source_model_sha256");
        } else {
            provenance.put("source_model_sha256", sourceModel);
        }
        ObjectNode extra = v.putObject("metadata");
        e.vectors().metadata().extra().forEach(extra::put);
        return v;
    }
}
