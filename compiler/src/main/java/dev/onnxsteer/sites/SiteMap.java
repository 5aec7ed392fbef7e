package dev.onnxsteer.sites;

import dev.onnxsteer.SiteNotFoundException;
import java.util.List;
import java.util.stream.Collectors;

/**
 * What site discovery found: every site (one per layer and kind, per If branch in merged
 * decoders), the hidden size, the number of layers, and notes on anything it was unsure of.
 * Where discovery is unsure of a site it leaves it out and says why in {@code notes}.
 *
 * @param layout a short description of what was recognised, e.g. "pre-norm decoder (llama)"
 */
public record SiteMap(String layout, int layerCount, long hiddenSize, List<Site> sites, List<String> notes) {
    public SiteMap {
        sites = List.copyOf(sites);
        notes = List.copyOf(notes);
    }

    /** The one wording, everywhere a layer number is refused: {@code layer 9 is out of range: the model has 4 layers (0-3)}. */
    public static String layerOutOfRange(int layer, int layerCount) {
        return "layer " + layer + " is out of range: the model has " + layerCount + " layers (0-" + (layerCount - 1) + ")";
    }

    /** Every copy of {@code kind.layer} (several in a merged decoder); never empty. */
    public List<Site> find(SiteKind kind, int layer) {
        if (layer < 0 || layer >= layerCount) {
            throw new SiteNotFoundException(layerOutOfRange(layer, layerCount));
        }
        List<Site> found = sites.stream().filter(s -> s.kind() == kind && s.layer() == layer).toList();
        if (found.isEmpty()) {
            String have = sites.stream().filter(s -> s.layer() == layer).map(s -> s.kind().label()).distinct()
                    .collect(Collectors.joining(", "));
            throw new SiteNotFoundException("site " + kind.label() + "." + layer + " was not found in this model"
                    + (have.isEmpty() ? "" : "; layer " + layer + " has: " + have)
                    + (notes.isEmpty() ? "" : " (" + String.join("; ", notes) + ")"));
        }
        return found;
    }
}
