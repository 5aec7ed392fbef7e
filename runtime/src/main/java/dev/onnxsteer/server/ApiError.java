package dev.onnxsteer.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.http.Context;

/**
 * An error answered to an HTTP client as an OpenAI-style JSON body {@code {"error": {"message",
 * "type", "param", "code"}}} with the given status.
 *
 * @see SteerServer
 */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;

    public ApiError(int status, String type, String param, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
    }

    /** 400 invalid_request_error about {@code param} (may be null). */
    public static ApiError badRequest(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, message);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    /** OpenAI's error body: {@code {"error": {"message", "type", "param", "code": null}}}. */
    public ObjectNode body() {
        ObjectNode root = SteerServer.JSON.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", getMessage());
        error.put("type", type);
        if (param == null) {
            error.putNull("param");
        } else {
            error.put("param", param);
        }
        error.putNull("code");
        return root;
    }

    /** Answers the request with this error's status and body. */
    void respond(Context ctx) {
        ctx.status(status).contentType("application/json").result(body().toString());
    }
}
