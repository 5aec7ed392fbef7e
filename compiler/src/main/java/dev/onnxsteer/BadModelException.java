package dev.onnxsteer;

/** A model file or directory that cannot be read or does not have the expected structure. */
public class BadModelException extends BadInputException {
    public BadModelException(String message) {
        super(message);
    }

    public BadModelException(String message, Throwable cause) {
        super(message, cause);
    }
}
