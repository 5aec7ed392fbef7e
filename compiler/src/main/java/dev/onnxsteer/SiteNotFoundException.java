package dev.onnxsteer;

/** A steering site that discovery did not find in the model. */
public class SiteNotFoundException extends SteerException {
    public SiteNotFoundException(String message) {
        super(message);
    }
}
