package dev.onnxsteer;

/** ONNX Runtime refused to load or run a model, or generation could not proceed. */
public class InferenceException extends SteerException {
    public InferenceException(String message) {
        super(message);
    }

    public InferenceException(String message, Throwable cause) {
        super(message, cause);
    }
}
