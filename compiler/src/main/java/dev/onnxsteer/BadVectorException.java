package dev.onnxsteer;

/** A steering vector (or vector file) that does not fit the model or is malformed. */
public class BadVectorException extends BadInputException {
    public BadVectorException(String message) {
        super(message);
    }

    public BadVectorException(String message, Throwable cause) {
        super(message, cause);
    }
}
