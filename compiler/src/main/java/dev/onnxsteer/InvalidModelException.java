package dev.onnxsteer;

/**
 * A model the compiler produced failed its own validity check (element types, or a runtime refused to
 * load it): a defect of the compiler, not of the user's input, so nothing was written.
 */
public class InvalidModelException extends SteerException {
    public InvalidModelException(String node, String reason) {
        super("compiled model is invalid: " + node + ": " + reason);
    }

    public InvalidModelException(String node, String reason, Throwable cause) {
        super("compiled model is invalid: " + node + ": " + reason, cause);
    }
}
