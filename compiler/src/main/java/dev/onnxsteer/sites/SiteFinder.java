package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds the steering sites of a transformer graph, in four steps, each its own class:
 * {@link EmbeddingStarts} (where the residual stream begins), {@link ResidualWalk} (its joins, two
 * per block, and with {@link NormMatch} each sublayer's normalised input), {@link LayerNames} (the
 * layer index the names give must agree with the structural one) and {@link SiteAssembly} (the
 * sites of each block, with their bias slots and projections). What counts as a join, a norm, an
 * attention block or a projection is in {@link Layouts}. Merged decoders are searched in every
 * graph, so each {@code If} branch gets its own sites. Reading only: the model is not changed.
 */
public final class SiteFinder {
    private SiteFinder() {}

    /** Discovers the sites of {@code model}; never throws for an unrecognised graph, it says so in the notes. */
    public static SiteMap find(Model model) {
        List<String> notes = new ArrayList<>();
        ResidualWalk walk = new ResidualWalk(new Dataflow(), notes);
        List<Chain> chains = new ArrayList<>();
        for (Graph graph : model.graph().allGraphs()) {
            for (Node start : EmbeddingStarts.of(graph)) {
                List<Chain> found = walk.from(start, graph);
                if (!found.isEmpty()) {
                    chains.addAll(found);
                    break;
                }
            }
        }
        if (chains.isEmpty()) {
            if (notes.isEmpty()) {
                notes.add("no transformer layers found: expected a token embedding (Gather of an initializer table "
                        + "by the input ids) followed by residual Add or SkipLayerNormalization joins");
            }
            return new SiteMap("unrecognised", 0, 0, List.of(), notes);
        }
        List<Site> sites = new ArrayList<>();
        int layers = 0;
        Set<Integer> counts = new LinkedHashSet<>();
        for (Chain chain : chains) {
            sites.addAll(SiteAssembly.sites(chain, LayerNames.unsure(chain, notes), notes));
            counts.add(chain.blocks().size());
            layers = Math.max(layers, chain.blocks().size());
        }
        if (counts.size() > 1) {
            notes.add("the graphs searched have different layer counts " + counts + "; each lists only its own sites");
        }
        return new SiteMap(layout(model, chains), layers, chains.get(0).hidden(), sites, notes);
    }

    /** The first chain's layout, saying so when the layers live in subgraphs (a merged decoder's If branches). */
    private static String layout(Model model, List<Chain> chains) {
        String layout = chains.get(0).layout();
        if (chains.size() == 1 && chains.get(0).graph() == model.graph()) {
            return layout;
        }
        Node owner = owners(model).get(chains.get(0).graph());
        boolean cacheBranch = owner != null && owner.is("If") && owner.input(0) != null
                && owner.input(0).name().contains("use_cache_branch");
        return (cacheBranch ? "merged decoder (If on use_cache_branch): "
                : "layers inside " + chains.size() + " subgraph(s): ") + layout;
    }

    private static Map<Graph, Node> owners(Model model) {
        Map<Graph, Node> owners = new IdentityHashMap<>();
        for (Graph graph : model.graph().allGraphs()) {
            for (Node node : graph.nodes()) {
                for (Graph sub : node.subgraphs()) {
                    owners.put(sub, node);
                }
            }
        }
        return owners;
    }

    /**
     * Whether {@code node} is an ONNX Runtime skip norm, {@code com.microsoft} SkipLayerNormalization or
     * SkipSimplifiedLayerNormalization: {@code sum = input + skip (+ bias)} as output 3, its norm as output 0.
     */
    public static boolean isSkipNorm(Node node) {
        return Layouts.isSkipNorm(node);
    }
}
