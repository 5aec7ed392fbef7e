package dev.onnxsteer.parity;

import java.util.List;

/** All checks of one parity run, in the order they ran. */
public record ParityReport(String original, String steered, int prompts, List<ParityCheck> checks) {
    public ParityReport {
        checks = List.copyOf(checks);
    }

    /** True when no check failed (skipped and informational checks do not fail a run). */
    public boolean passed() {
        return checks.stream().noneMatch(c -> c.status() == ParityCheck.Status.FAILED);
    }
}
