package dev.onnxsteer.session;

import java.util.Locale;

/**
 * Where a session runs: {@code auto} (CUDA when it loads, else CPU), {@code cpu}, or
 * {@code cuda:N} (CUDA device N, failing when CUDA cannot be used).
 *
 * @param kind  the kind of device
 * @param index the CUDA device ordinal; 0 for {@code auto} and {@code cpu}
 */
public record Device(Kind kind, int index) {
    /** The device kinds a user can ask for. */
    public enum Kind { AUTO, CPU, CUDA }

    public static final Device AUTO = new Device(Kind.AUTO, 0);
    public static final Device CPU = new Device(Kind.CPU, 0);

    /** The accepted spellings, for error and help messages. */
    public static final String CHOICES = "auto, cpu, cuda, cuda:N";

    public Device {
        if (kind == null) {
            throw new IllegalArgumentException("device kind is null; expected one of " + CHOICES);
        }
        if (index < 0 || (kind != Kind.CUDA && index != 0)) {
            throw new IllegalArgumentException("device index " + index + " is not valid for " + kind);
        }
    }

    public static Device cuda(int index) {
        return new Device(Kind.CUDA, index);
    }

    /** Parses {@code auto|cpu|cuda|cuda:N} (case-insensitive); anything else is an IllegalArgumentException naming the choices. */
    public static Device parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("device is missing; expected one of " + CHOICES);
        }
        String value = text.trim().toLowerCase(Locale.ROOT);
        switch (value) {
            case "auto":
                return AUTO;
            case "cpu":
                return CPU;
            case "cuda":
                return cuda(0);
            default:
                break;
        }
        if (value.startsWith("cuda:")) {
            String ordinal = value.substring("cuda:".length());
            if (!ordinal.isEmpty() && ordinal.chars().allMatch(Character::isDigit) && ordinal.length() <= 4) {
                return cuda(Integer.parseInt(ordinal));
            }
        }
        throw new IllegalArgumentException("unknown device '" + text + "', expected one of " + CHOICES);
    }

    public boolean isCuda() {
        return kind == Kind.CUDA;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case AUTO -> "auto";
            case CPU -> "cpu";
            case CUDA -> "cuda:" + index;
        };
    }
}
