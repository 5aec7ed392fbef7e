package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Step 4 of discovery: the sites of one walked graph. Each block gives resid_pre, attn_in, attn_out,
 * resid_mid, mlp_in, mlp_out and resid_post where the tensor exists, with the bias a constant added
 * there folds into; blocks {@link LayerNames} is unsure of are left out, and so are the sublayer
 * sites of a block whose attention is not where it should be.
 */
final class SiteAssembly {
    private SiteAssembly() {}

    /** The sites of {@code chain}, leaving out the blocks in {@code unsure}; notes say what else was left out. */
    static List<Site> sites(Chain chain, Map<Integer, String> unsure, List<String> notes) {
        Set<Integer> attnInOff = offRole(chain, SiteKind.ATTN_IN, Block::attnIn, notes);
        Set<Integer> mlpInOff = offRole(chain, SiteKind.MLP_IN, Block::mlpIn, notes);
        List<Site> sites = new ArrayList<>();
        BiasSlot previousPost = null;
        for (Block b : chain.blocks()) {
            boolean keep = !unsure.containsKey(b.layer());
            boolean attnLooksRight = hasAttention(b.attn().region()) && !hasAttention(b.mlp().region());
            if (keep && !attnLooksRight) {
                notes.add(chain.graph().name() + ": layer " + b.layer() + ": expected attention (Softmax or an Attention op) "
                        + "before the first join and none before the second; attn_in, attn_out, resid_mid, mlp_in and "
                        + "mlp_out are left out");
            }
            BiasSlot attnBias = b.attn().fusedBias() != null ? b.attn().fusedBias() : biasOf(b.attn().sublayer(), chain.hidden());
            BiasSlot mlpBias = b.mlp().fusedBias() != null ? b.mlp().fusedBias() : biasOf(b.mlp().sublayer(), chain.hidden());
            BiasSlot midBias = chain.postNorm() ? null : b.attn().fusedBias() != null ? attnBias
                    : onlyFeeds(b.attn().sublayer(), b.attn().node()) ? attnBias : null;
            BiasSlot postBias = chain.postNorm() ? null : b.mlp().fusedBias() != null ? mlpBias
                    : onlyFeeds(b.mlp().sublayer(), b.mlp().node()) ? mlpBias : null;
            if (keep) {
                add(sites, chain, SiteKind.RESID_PRE, b.layer(), b.pre(), b.layer() == 0 || chain.postNorm() ? null : previousPost);
                if (attnLooksRight) {
                    add(sites, chain, SiteKind.ATTN_IN, b.layer(), attnInOff.contains(b.layer()) ? null : b.attnIn(), null);
                    add(sites, chain, SiteKind.ATTN_OUT, b.layer(), b.attn().sublayer(), attnBias);
                    add(sites, chain, SiteKind.RESID_MID, b.layer(), b.mid(), midBias);
                    add(sites, chain, SiteKind.MLP_IN, b.layer(), mlpInOff.contains(b.layer()) ? null : b.mlpIn(), null);
                    add(sites, chain, SiteKind.MLP_OUT, b.layer(), b.mlp().sublayer(), mlpBias);
                }
                add(sites, chain, SiteKind.RESID_POST, b.layer(), b.post(), postBias);
            }
            previousPost = postBias;
        }
        return sites;
    }

    /**
     * The layers whose sublayer input plays a different role than in the others. A sublayer input is
     * the value the sublayer's first projections read (for a decomposed LayerNorm, the output of the
     * affine Add, not the Div before it); where most layers' normalised values feed only linear
     * projections, a layer whose value feeds something else was matched to a different tensor (a gain
     * the matcher could not see as constant, say), so its site is left out, with a note, rather than
     * steer another tensor under the same name.
     */
    static Set<Integer> offRole(Chain chain, SiteKind kind, Function<Block, Value> pick, List<String> notes) {
        Map<Integer, List<Node>> others = new TreeMap<>();
        int projected = 0;
        for (Block b : chain.blocks()) {
            Value x = pick.apply(b);
            if (x == null) {
                continue;
            }
            Value read = Dataflow.pastSteering(x, chain.graph());
            Projections.Readers readers = Projections.of(read, chain.hidden());
            if (readers.others().isEmpty() && !readers.projections().isEmpty() && !read.isGraphOutput()) {
                projected++;
            } else {
                others.put(b.layer(), readers.others());
            }
        }
        if (projected == 0 || others.isEmpty()) {
            return Set.of();
        }
        others.forEach((layer, readers) -> notes.add(chain.graph().name() + ": " + kind.label() + "." + layer
                + " is left out: its normalised value " + pick.apply(chain.blocks().get(layer)) + " is read by " + readers
                + ", not only by the linear projections that read it in the other layers, so it is not the same "
                + "tensor there"));
        return others.keySet();
    }

    private static void add(List<Site> sites, Chain chain, SiteKind kind, int layer, Value value, BiasSlot bias) {
        if (value == null) {
            return;
        }
        var type = value.tensorType();
        long hidden = type != null && type.lastDim() > 0 ? type.lastDim() : chain.hidden();
        List<Projection> projections = kind.isSublayerInput()
                ? Projections.of(value, hidden).onlyProjections(value) : List.of();
        sites.add(new Site(kind, layer, value, chain.graph(), hidden, bias, projections));
    }

    private static boolean hasAttention(Set<Node> region) {
        return region.stream().anyMatch(Layouts::isAttention);
    }

    /**
     * The bias initializer that {@code x} is the output of (through Reshape/Identity): Add(y, bias) or
     * a projection's own bias input ({@link Layouts#biasInput}: Gemm's C, MatMulNBits' bias), with a
     * hidden-sized float bias, where nothing else reads the intermediate values.
     */
    static BiasSlot biasOf(Value x, long hidden) {
        Value v = x;
        for (int i = 0; i < 3 && v.producer() != null; i++) {
            Node p = v.producer();
            if (v != x && v.uses().size() != 1) {
                return null;
            }
            if (p.is("Reshape") || p.is("Identity")) {
                v = p.input(0);
                continue;
            }
            if (p.is("Add") && p.inputCount() == 2) {
                for (int k = 0; k < 2; k++) {
                    Value bias = p.input(k);
                    Value other = p.input(1 - k);
                    if (Projections.isVector(bias, hidden) && other != null && !Constants.isConstant(other)) {
                        return new BiasSlot(p, k, bias);
                    }
                }
            }
            int own = Layouts.biasInput(p);
            if (own >= 0 && p.inputCount() > own && Projections.isVector(p.input(own), hidden)) {
                return new BiasSlot(p, own, p.input(own));
            }
            return null;
        }
        return null;
    }

    /** Whether the join is the only reader of {@code x}, so a constant folded upstream reaches nothing else. */
    private static boolean onlyFeeds(Value x, Node join) {
        List<Use> uses = x.uses();
        return !x.isGraphOutput() && uses.size() == 1 && uses.get(0).node() == join;
    }
}
