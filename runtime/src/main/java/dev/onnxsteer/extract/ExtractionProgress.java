package dev.onnxsteer.extract;

/** Told how many pairs of how many are done, after each batch; called on the extracting thread. */
@FunctionalInterface
public interface ExtractionProgress {
    ExtractionProgress NONE = (done, total) -> { };

    void pairsDone(int done, int total);
}
