package dev.onnxsteer;

/**
 * An input file that cannot be used as it is: a model, a vector file, a dataset. The CLI exits
 * with code 3 for these, so scripts can tell a bad file from a bad option.
 */
public class BadInputException extends SteerException {
    public BadInputException(String message) {
        super(message);
    }

    public BadInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
