package dev.onnxsteer.parity;

/**
 * The result of one parity check.
 *
 * @param name        short id: zero, zero-optimized, independent, modes, cache, effect
 * @param status      passed, failed, skipped, or info (a measurement with no pass/fail)
 * @param maxAbsDiff  the largest absolute difference seen (NaN where not applicable)
 * @param tolerance   the largest difference allowed (NaN where not applicable)
 * @param detail      one line a person can read
 */
public record ParityCheck(String name, Status status, double maxAbsDiff, double tolerance, String detail) {
    public enum Status { PASSED, FAILED, SKIPPED, INFO }

    static ParityCheck compare(String name, double maxAbsDiff, double tolerance, String detail) {
        return new ParityCheck(name, maxAbsDiff <= tolerance ? Status.PASSED : Status.FAILED, maxAbsDiff, tolerance, detail);
    }

    static ParityCheck skipped(String name, String why) {
        return new ParityCheck(name, Status.SKIPPED, Double.NaN, Double.NaN, why);
    }

    static ParityCheck info(String name, double value, String detail) {
        return new ParityCheck(name, Status.INFO, value, Double.NaN, detail);
    }
}
