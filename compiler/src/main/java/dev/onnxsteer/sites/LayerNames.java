package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Step 3 of discovery: the layer index the names of each block give ({@code /model/layers.3/},
 * {@code transformer.h.3.}), by a vote over its node, value and weight names, checked against the
 * structural index. A block whose names disagree is left out with a note; names offset by the same
 * amount in every block (1-based exports) keep the structural indices.
 */
final class LayerNames {
    private static final Pattern LAYER_NAME =
            Pattern.compile("(?:^|[/.])(?:layers?|h|blocks?|blk)[._](\\d+)(?=[/._]|$)");

    private LayerNames() {}

    /** The blocks of {@code chain} to leave out, each with why; notes say what was decided. */
    static Map<Integer, String> unsure(Chain chain, java.util.List<String> notes) {
        Map<Integer, Integer> named = new TreeMap<>();
        Map<Integer, String> unsure = new LinkedHashMap<>();
        for (Block block : chain.blocks()) {
            Integer attn = namedLayer(block.attn().region());
            Integer mlp = namedLayer(block.mlp().region());
            if (attn != null && mlp != null && !attn.equals(mlp)) {
                unsure.put(block.layer(), "its attention names say layer " + attn + " but its MLP names say layer " + mlp);
            } else if (attn != null || mlp != null) {
                named.put(block.layer(), attn != null ? attn : mlp);
            }
        }
        Set<Integer> offsets = new LinkedHashSet<>();
        named.forEach((layer, name) -> offsets.add(name - layer));
        if (offsets.size() == 1 && offsets.iterator().next() != 0 && named.size() == chain.blocks().size()) {
            notes.add(chain.graph().name() + ": names number the layers from " + offsets.iterator().next()
                    + "; sites use 0-based structural indices");
        } else {
            named.forEach((layer, name) -> {
                if (layer.intValue() != name.intValue()) {
                    unsure.put(layer, "it is layer " + layer + " by structure but its node and weight names say layer " + name);
                }
            });
        }
        unsure.forEach((layer, why) -> notes.add(chain.graph().name() + ": layer " + layer + " is left out: " + why));
        return unsure;
    }

    /** The layer index most names in {@code region} mention, or null when none do or two tie. */
    static Integer namedLayer(Set<Node> region) {
        Map<Integer, Integer> votes = new HashMap<>();
        for (Node n : region) {
            vote(votes, n.name());
            for (Value out : n.outputs()) {
                vote(votes, out.name());
            }
            for (Value in : n.inputs()) {
                if (in != null && in.isInitializer() && in.initializer().rank() >= 2) {
                    vote(votes, in.name());
                }
            }
        }
        Integer best = null;
        int bestCount = 0;
        boolean tie = false;
        for (Map.Entry<Integer, Integer> e : votes.entrySet()) {
            if (e.getValue() > bestCount) {
                best = e.getKey();
                bestCount = e.getValue();
                tie = false;
            } else if (e.getValue() == bestCount) {
                tie = true;
            }
        }
        return tie ? null : best;
    }

    private static void vote(Map<Integer, Integer> votes, String name) {
        Matcher m = LAYER_NAME.matcher(name);
        if (m.find()) {
            try {
                votes.merge(Integer.parseInt(m.group(1)), 1, Integer::sum);
            } catch (NumberFormatException ignored) {
                // a number too long to be a layer index is not one
            }
        }
    }
}
