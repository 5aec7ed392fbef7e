package dev.onnxsteer;

/**
 * Root of every error onnx-steer reports. Messages name what was expected and what was
 * found, in one line, so the CLI can print them as they are.
 */
public class SteerException extends RuntimeException {
    public SteerException(String message) {
        super(message);
    }

    public SteerException(String message, Throwable cause) {
        super(message, cause);
    }
}
