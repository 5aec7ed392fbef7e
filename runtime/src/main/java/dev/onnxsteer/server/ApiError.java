package dev.onnxsteer.server;

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
}
