package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Use;
import java.util.List;

/**
 * One layout of a linear projection, as the reader of a sublayer input sees it. {@link Projections}
 * asks every pattern of {@link Layouts#PROJECTIONS} about each reader; a new layout (another
 * quantized MatMul, say) is one more pattern there, nothing else changes.
 */
interface ProjectionPattern {
    /**
     * The projections that {@code use} (a node reading {@code x}, whose last dimension is
     * {@code hidden}, at an input index) is, or leads to; empty when this layout is not it. One
     * reader can stand for several projections: a {@code DynamicQuantizeLinear} feeding q, k and v.
     */
    List<Projection> match(Use use, long hidden);
}
