package dev.onnxsteer.server;

import dev.onnxsteer.generate.ExtraInputs;
import java.util.List;


/**
 * How a served model takes steering that differs from row to row of one batch: it turns each row's
 * {@code steering} list into the extra input tensors of the batch's runs. Implementations: {@link
 * InputModeSteering} (per-row {@code [batch, hidden]} vector inputs of an input-mode compile, any
 * mix of vectors per row). A per-row vector bank ({@code steer_bank}, {@code steer_index}, {@code
 * steer_scale}) fits the same interface.
 */
public interface RowSteering extends AutoCloseable {
    /**
     * Checks one request's steering (against the vectors it is bound to) before it is queued.
     *
     * @throws IllegalArgumentException naming the problem (e.g. an unknown vector, with the known names)
     */
    void validate(BoundSteering steering);

    /**
     * The extra inputs of a batch whose row {@code r} is steered by {@code rows.get(r)} (no terms
     * leave the row unsteered). The caller closes the result after the batch's generation.
     */
    BatchInputs inputsFor(List<BoundSteering> rows);

    /** Releases anything held; the default holds nothing. */
    @Override
    default void close() {}

    /** Extra inputs owned by one batch. */
    interface BatchInputs extends ExtraInputs, AutoCloseable {
        @Override
        void close();
    }
}
