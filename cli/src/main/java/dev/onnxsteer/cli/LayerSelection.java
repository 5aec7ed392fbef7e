package dev.onnxsteer.cli;

import dev.onnxsteer.sites.SiteMap;
import java.util.SortedSet;
import java.util.TreeSet;

/** Parses {@code --layers}: {@code 3}, {@code 2,3}, {@code 1-4}, {@code all}, or a mix ({@code 0,2-3}). */
final class LayerSelection {
    private LayerSelection() {}

    static SortedSet<Integer> parse(String text, int layerCount) {
        SortedSet<Integer> layers = new TreeSet<>();
        String valid = "valid layers are 0-" + (layerCount - 1) + " (or all)";
        if (text.trim().equals("all")) {
            for (int i = 0; i < layerCount; i++) {
                layers.add(i);
            }
            return layers;
        }
        for (String part : text.split(",")) {
            String[] range = part.trim().split("-", -1);
            int from;
            int to;
            try {
                from = Integer.parseInt(range[0].trim());
                to = range.length == 2 ? Integer.parseInt(range[1].trim()) : from;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--layers '" + text + "' is not a list like 2,3 or 1-4; " + valid);
            }
            if (range.length > 2 || from > to) {
                throw new IllegalArgumentException("--layers '" + text + "' has a bad range '" + part + "'; " + valid);
            }
            for (int layer = from; layer <= to; layer++) {
                if (layer < 0 || layer >= layerCount) {
                    throw new IllegalArgumentException(SiteMap.layerOutOfRange(layer, layerCount));
                }
                layers.add(layer);
            }
        }
        return layers;
    }
}
