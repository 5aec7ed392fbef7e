package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Step 2 of discovery: follows the residual stream from an embedding through its joins
 * ({@link Layouts#JOINS}), two per block, the first fed by attention and the second by the MLP,
 * until the final normalisation. Post-norm encoders (BERT) put a norm after each join; the stream
 * continues from its output. In pre-norm layouts each sublayer's normalised input is matched by
 * {@link NormMatch}. Forks into the child graphs (If branches) where the stream goes there.
 */
final class ResidualWalk {
    private final Dataflow flow;
    private final List<String> notes;

    ResidualWalk(Dataflow flow, List<String> notes) {
        this.flow = flow;
        this.notes = notes;
    }

    /** The walks from embedding node {@code start} of {@code scope}: one, one per child graph, or none. */
    List<Chain> from(Node start, Graph scope) {
        EmbeddingStarts.Start s = EmbeddingStarts.start(start, scope, flow);
        Chain chain = walk(scope, s.resid0(), s.hidden(), s.fusedPostNorm());
        if (chain != null) {
            return List.of(chain);
        }
        List<Chain> chains = new ArrayList<>();
        Set<Graph> children = new LinkedHashSet<>();
        for (Use use : s.resid0().uses()) {
            if (use.node().graph() != scope) {
                children.add(use.node().graph());
            }
        }
        for (Graph child : children) {
            Chain sub = walk(child, s.resid0(), s.hidden(), s.fusedPostNorm());
            if (sub != null) {
                chains.add(sub);
            }
        }
        return chains;
    }

    /** The structural walk of one graph, or null when no block is found there. */
    private Chain walk(Graph scope, Value resid0, long hidden, boolean fusedPostNorm) {
        Value h = Dataflow.pastSteering(resid0, scope);
        boolean postNorm = fusedPostNorm;
        Join first = join(h, scope);
        if (first == null && !postNorm) {
            Value normed = NormMatch.closedNorm(h, scope);
            if (normed == null) {
                return null;
            }
            Join afterNorm = join(normed, scope);
            if (afterNorm == null) {
                return null;
            }
            postNorm = true;
            h = normed;
        }
        String layout = layoutOf(h, scope, postNorm, first != null ? first : join(h, scope));
        List<Block> blocks = new ArrayList<>();
        for (int layer = 0; h != null; layer++) {
            Join attn = join(h, scope);
            if (attn == null) {
                if (!postNorm) {
                    checkFinalNorm(h, scope, layer);
                }
                break;
            }
            Value mid = postNorm ? (attn.normed() != null ? attn.normed() : NormMatch.closedNorm(attn.sum(), scope)) : attn.sum();
            if (mid == null) {
                notes.add(scope.name() + ": layer " + layer + ": the residual sum after attention ("
                        + attn.node() + ") is not " + (postNorm ? "followed by a LayerNorm" : "a tensor in this graph")
                        + "; the walk stopped there");
                break;
            }
            Join mlp = join(Dataflow.pastSteering(mid, scope), scope);
            if (mlp == null) {
                notes.add(scope.name() + ": layer " + layer + ": found the attention join " + attn.node()
                        + " but no second residual join for the MLP; the walk stopped there");
                break;
            }
            Value post = postNorm ? (mlp.normed() != null ? mlp.normed() : NormMatch.closedNorm(mlp.sum(), scope)) : mlp.sum();
            Value attnIn = postNorm ? null : NormMatch.sublayerInput(h, attn, scope, "attn_in." + layer, notes);
            Value mlpIn = postNorm ? null
                    : NormMatch.sublayerInput(Dataflow.pastSteering(mid, scope), mlp, scope, "mlp_in." + layer, notes);
            blocks.add(new Block(layer, h, attnIn, attn, mid, mlpIn, mlp, post));
            if (post == null) {
                notes.add(postNorm
                        ? scope.name() + ": resid_post." + layer + ": the sum of " + mlp.node()
                                + " is not followed by a LayerNorm; the walk stopped there"
                        : "resid_post." + layer + " is not a tensor in " + scope.name() + ": " + mlp.node()
                                + " is also the final norm and computes the residual sum without exposing it "
                                + "(its optional output 3)");
            }
            h = post == null ? null : Dataflow.pastSteering(post, scope);
        }
        if (blocks.isEmpty()) {
            return null;
        }
        if (postNorm) {
            notes.add(scope.name() + ": post-norm layout: attention and MLP read the residual stream itself "
                    + "(resid_pre, resid_mid), so there are no separate attn_in/mlp_in sites");
        }
        if (blocks.get(0).attn().fusedBias() != null) {
            notes.add("fused graph: attn_out/mlp_out are the projection MatMul outputs; their biases are added inside "
                    + blocks.get(0).attn().node().opType() + " (the BiasSlot)");
        }
        return new Chain(scope, layout, hidden, blocks, postNorm);
    }

    private static String layoutOf(Value h, Graph scope, boolean postNorm, Join join) {
        if (join != null && !join.node().domain().isEmpty()) {
            return (postNorm ? "fused post-norm encoder" : "fused pre-norm decoder") + " (onnxruntime "
                    + join.node().opType() + ")";
        }
        if (postNorm) {
            return "post-norm encoder (bert)";
        }
        boolean rms = false;
        boolean layerNorm = false;
        for (Use use : Dataflow.structuralUses(h, scope)) {
            Node n = use.node();
            String op = n.opType();
            if (op.equals("LayerNormalization") || n.is("ReduceMean") || n.is("Sub")) {
                layerNorm = true;
            } else if (op.equals("SimplifiedLayerNormalization") || op.equals("RMSNormalization") || n.is("Pow")
                    || n.is("Mul") && n.input(0) == h && n.input(1) == h) {
                rms = true;
            }
        }
        return "pre-norm decoder (" + (rms && !layerNorm ? "llama" : layerNorm ? "gpt2" : "unknown norm") + ")";
    }

    private void checkFinalNorm(Value h, Graph scope, int layers) {
        Node p = h.producer();
        // a fused skip norm that is also the final norm returns the last residual sum as output 3, read by nothing
        boolean skipNormSum = p != null && Layouts.isSkipNorm(p) && h.outputIndex() == 3;
        if (h.isGraphOutput() || skipNormSum || NormMatch.closedNorm(h, scope) != null) {
            return;
        }
        List<String> readers = Dataflow.structuralUses(h, scope).stream().map(u -> u.node().toString()).distinct().toList();
        notes.add(scope.name() + ": after layer " + (layers - 1) + " the residual stream " + h
                + " goes to " + readers + ", not to a recognised final norm; layers past that point, if any, "
                + "are not listed");
    }

    /** The unique residual join reading {@code h} in {@code scope}, or null (with a note when ambiguous). */
    private Join join(Value h, Graph scope) {
        List<Join> found = new ArrayList<>();
        for (Use use : Dataflow.structuralUses(h, scope)) {
            JoinPattern pattern = Layouts.JOINS.stream().filter(p -> p.reads(use)).findFirst().orElse(null);
            if (pattern == null) {
                continue;
            }
            Value x = use.node().input(1 - use.index());
            if (x == null || x == h || Constants.isConstant(x)) {
                continue;
            }
            Set<Node> region = flow.region(x, h, scope);
            if (x.producer() == null || !region.contains(x.producer())) {
                continue;
            }
            found.add(pattern.join(use.node(), h, x, region));
        }
        if (found.size() > 1) {
            notes.add(scope.name() + ": " + h + " feeds " + found.size() + " residual joins "
                    + found.stream().map(j -> j.node().toString()).toList() + "; the structure is ambiguous there");
            return null;
        }
        return found.isEmpty() ? null : found.get(0);
    }
}
