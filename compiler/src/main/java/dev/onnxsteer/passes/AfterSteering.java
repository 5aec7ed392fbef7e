package dev.onnxsteer.passes;

import dev.onnxsteer.sites.SiteMap;

/**
 * A rewrite that works on what a {@link SteerPass} did (its {@link SteerPass#applied} tensors) at sites
 * found in the source model; {@link Compilation} hands it both before the passes run.
 */
public interface AfterSteering extends Pass {
    void bind(SiteMap sites, SteerPass steer);
}
