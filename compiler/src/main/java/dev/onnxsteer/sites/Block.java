package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Value;

/**
 * One block as found by structure; {@code mid} and {@code post} are null where the graph has no
 * such tensor, {@code attnIn} and {@code mlpIn} (the normalised sublayer inputs) where no
 * normalisation of the residual feeds the sublayer (post-norm layouts).
 */
record Block(int layer, Value pre, Value attnIn, Join attn, Value mid, Value mlpIn, Join mlp, Value post) {}
