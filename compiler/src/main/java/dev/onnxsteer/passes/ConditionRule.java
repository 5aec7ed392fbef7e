package dev.onnxsteer.passes;

import java.util.Locale;

/**
 * How several conditions combine into one decision, as activation-steering's multi-steer rules
 * ({@code "if C1 or C2 then B"}): {@code or} fires when any condition fires, {@code and} when all do.
 */
public enum ConditionRule {
    OR("Or"), AND("And");

    private final String operator;

    ConditionRule(String operator) {
        this.operator = operator;
    }

    /** The ONNX operator that combines two decisions. */
    String operator() {
        return operator;
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ConditionRule parse(String text) {
        for (ConditionRule r : values()) {
            if (r.label().equals(text)) {
                return r;
            }
        }
        throw new IllegalArgumentException("condition rule " + text + " is not or or and");
    }
}
