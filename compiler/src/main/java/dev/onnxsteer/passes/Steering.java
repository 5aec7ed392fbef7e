package dev.onnxsteer.passes;

import dev.onnxsteer.sites.SiteKind;

/** Add {@code coefficient * vector} at site {@code kind.layer}. */
public record Steering(SiteKind kind, int layer, float[] vector, float coefficient) {
    public String siteName() {
        return kind.label() + "." + layer;
    }
}
