package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.javalin.http.Context;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

/** Reading a request body within a size limit. */
final class RequestBody {
    private RequestBody() {}

    /** The body as a JSON object, at most {@code limit} bytes (400 beyond); an empty body is a 400 too. */
    static JsonNode json(Context ctx, int limit) throws IOException {
        byte[] body = bytes(ctx, limit, 400);
        if (body.length == 0) {
            throw ApiError.badRequest(null, "the request body is empty; expected a JSON object");
        }
        return RequestFields.parse(body).node();
    }

    /**
     * The request body, at most {@code limit} bytes; a larger one is answered {@code status} after
     * draining up to 16 times the limit plus 1 MiB of it, so the client reads the answer.
     */
    static byte[] bytes(Context ctx, int limit, int status) throws IOException {
        long declared = ctx.req().getContentLengthLong();
        InputStream in = ctx.req().getInputStream();
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        long total = 0;
        int n;
        while ((n = in.read(chunk)) >= 0) {
            total += n;
            if (total > limit) {
                long drained = total;
                while (drained < 16L * limit + (1 << 20) && (n = in.read(chunk)) >= 0) {
                    drained += n;
                }
                throw tooLarge(limit, status);
            }
            buffer.write(chunk, 0, n);
        }
        if (declared > limit) {
            throw tooLarge(limit, status);
        }
        return buffer.toByteArray();
    }

    private static ApiError tooLarge(int limit, int status) {
        return new ApiError(status, "invalid_request_error", null, "the request body is larger than " + limit + " bytes");
    }
}
