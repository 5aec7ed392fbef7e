package dev.onnxsteer.sites;

import dev.onnxsteer.SiteNotFoundException;
import dev.onnxsteer.ir.Graph;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Use;
import dev.onnxsteer.ir.Value;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Site names three ways. Ours: {@code resid_post} (layer from elsewhere) or {@code resid_post.3}.
 * TransformerLens hook names: {@code blocks.3.hook_resid_post}, {@code blocks.3.ln1.hook_normalized}.
 * The Hugging Face module path whose output a PyTorch hook would change: {@code transformer.h.3.mlp}
 * (GPT-2), {@code model.layers.3.self_attn} (llama), {@code encoder.layer.3} (BERT). A module path is
 * resolved through the node scopes torch.onnx and Optimum write ({@code /transformer/h.3/mlp/...}):
 * the site is the value the scope hands to the rest of the graph. A graph without such scopes (an
 * ONNX Runtime fused graph) falls back to the structural site of the same kind and layer.
 */
public final class SiteNames {
    /** How a name was written. */
    public enum Form { OURS, TRANSFORMER_LENS, MODULE_PATH }

    /** A Hugging Face model family's module paths: the block prefix and, per site kind, the submodule. */
    private record Family(String blocks, Map<SiteKind, String> modules) {}

    private static final Map<SiteKind, String> HOOKS = new EnumMap<>(Map.of(
            SiteKind.RESID_PRE, "hook_resid_pre",
            SiteKind.ATTN_IN, "ln1.hook_normalized",
            SiteKind.ATTN_OUT, "hook_attn_out",
            SiteKind.RESID_MID, "hook_resid_mid",
            SiteKind.MLP_IN, "ln2.hook_normalized",
            SiteKind.MLP_OUT, "hook_mlp_out",
            SiteKind.RESID_POST, "hook_resid_post"));

    private static final List<Family> FAMILIES = List.of(
            new Family("transformer.h", new EnumMap<>(Map.of(SiteKind.RESID_POST, "", SiteKind.ATTN_OUT, ".attn",
                    SiteKind.MLP_OUT, ".mlp", SiteKind.ATTN_IN, ".ln_1", SiteKind.MLP_IN, ".ln_2"))),
            new Family("model.layers", new EnumMap<>(Map.of(SiteKind.RESID_POST, "", SiteKind.ATTN_OUT, ".self_attn",
                    SiteKind.MLP_OUT, ".mlp", SiteKind.ATTN_IN, ".input_layernorm",
                    SiteKind.MLP_IN, ".post_attention_layernorm"))),
            new Family("encoder.layer", new EnumMap<>(Map.of(SiteKind.RESID_POST, ""))));

    private static final Pattern OURS = Pattern.compile("([a-z_]+)(?:\\.(\\d+))?");
    private static final Pattern HOOK = Pattern.compile("blocks\\.(\\d+)\\.(.+)");
    private static final Pattern MODULE = Pattern.compile("([a-z_]+\\.[a-z_]+)\\.(\\d+)((?:\\.[a-z_0-9]+)?)");

    /**
     * A parsed name: the kind of site, its layer ({@code -1} when the name leaves the layer to
     * {@code --layers} or the vector file) and, for module paths, the path itself.
     */
    public record SiteName(String text, SiteKind kind, int layer, Form form, String modulePath) {
        public boolean hasLayer() {
            return layer >= 0;
        }
    }

    /** A name resolved against a model: the site's kind and layer in our terms, and how it was found. */
    public record Resolved(SiteName name, SiteKind kind, int layer, String how) {
        /** Our canonical name, e.g. {@code resid_post.2}. */
        public String siteName() {
            return kind.label() + "." + layer;
        }
    }

    private SiteNames() {}

    /** Parses a name in any of the three forms; an unknown name is refused with the closest valid names. */
    public static SiteName parse(String text) {
        String t = text == null ? "" : text.trim();
        Matcher m = OURS.matcher(t);
        if (m.matches()) {
            for (SiteKind kind : SiteKind.values()) {
                if (kind.label().equals(m.group(1))) {
                    return new SiteName(t, kind, m.group(2) == null ? -1 : layer(m.group(2), t), Form.OURS, null);
                }
            }
        }
        m = HOOK.matcher(t);
        if (m.matches()) {
            for (Map.Entry<SiteKind, String> hook : HOOKS.entrySet()) {
                if (hook.getValue().equals(m.group(2))) {
                    return new SiteName(t, hook.getKey(), layer(m.group(1), t), Form.TRANSFORMER_LENS, null);
                }
            }
        }
        m = MODULE.matcher(t);
        if (m.matches()) {
            for (Family family : FAMILIES) {
                if (!family.blocks.equals(m.group(1))) {
                    continue;
                }
                for (Map.Entry<SiteKind, String> module : family.modules.entrySet()) {
                    if (module.getValue().equals(m.group(3))) {
                        return new SiteName(t, module.getKey(), layer(m.group(2), t), Form.MODULE_PATH, t);
                    }
                }
            }
        }
        throw new IllegalArgumentException("unknown site '" + text + "'; closest valid names: "
                + String.join(", ", closest(t, 3)) + ". Valid names: " + grammar());
    }

    private static int layer(String digits, String text) {
        try {
            return Integer.parseInt(digits);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("site '" + text + "' names layer " + digits + ", which is not a layer index");
        }
    }

    /**
     * Resolves a name that carries its layer against discovered sites. Our names and hook names
     * name the structural site directly; module paths go through node scopes first.
     *
     * @throws SiteNotFoundException when the model has no such site, or its scopes disagree with the structure
     */
    public static Resolved resolve(SiteMap map, String text) {
        SiteName name = parse(text);
        if (!name.hasLayer()) {
            throw new IllegalArgumentException("site '" + text + "' names no layer; write " + name.kind().label()
                    + ".L or give the layers separately");
        }
        if (name.form() == Form.MODULE_PATH) {
            Resolved scoped = byScope(map, name);
            if (scoped != null) {
                return scoped;
            }
        }
        map.find(name.kind(), name.layer());
        return new Resolved(name, name.kind(), name.layer(),
                name.form() == Form.MODULE_PATH ? "by structure (the graph has no node scope " + scope(name.modulePath())
                        + ")" : "by structure");
    }

    /**
     * Every other name that resolves to {@code site} in this model: its TransformerLens hook name and
     * the module paths of the model families whose names the model uses.
     */
    public static List<String> aliases(SiteMap map, Site site) {
        return new Aliases(map).of(site);
    }

    /** Alias lists for many sites of one model, sharing the scan of its names. */
    public static final class Aliases {
        private final SiteMap map;
        private final List<Family> families;
        private final Map<String, Resolved> cache = new java.util.HashMap<>();

        public Aliases(SiteMap map) {
            this.map = map;
            this.families = familiesOf(map);
        }

        public List<String> of(Site site) {
            List<String> names = new ArrayList<>();
            names.add("blocks." + site.layer() + "." + HOOKS.get(site.kind()));
            for (Family family : families) {
                for (int layer : candidateLayers(site)) {
                    String suffix = family.modules.get(site.kind());
                    if (suffix == null) {
                        continue;
                    }
                    String path = family.blocks + "." + layer + suffix;
                    Resolved r = cache.computeIfAbsent(path, p -> {
                        try {
                            return resolve(map, p);
                        } catch (SiteNotFoundException notHere) {
                            // the family's path names no site of this model (or an ambiguous scope): not an alias
                            return null;
                        }
                    });
                    if (r != null && r.kind() == site.kind() && r.layer() == site.layer() && !names.contains(path)) {
                        names.add(path);
                    }
                }
            }
            return names;
        }

        /** The layer itself, plus neighbours in case the names are numbered from an offset. */
        private static List<Integer> candidateLayers(Site site) {
            return List.of(site.layer(), site.layer() + 1, site.layer() - 1).stream().filter(l -> l >= 0).toList();
        }
    }

    // ---------------------------------------------------------------------------------------------

    /** {@code transformer.h.2.mlp} to the torch.onnx scope {@code /transformer/h.2/mlp/}. */
    static String scope(String modulePath) {
        StringBuilder out = new StringBuilder();
        for (String part : modulePath.split("\\.")) {
            out.append(part.chars().allMatch(Character::isDigit) ? "." : "/").append(part);
        }
        return out.append('/').toString();
    }

    /** The site a module path's scope outputs, or null when no node carries the scope. */
    private static Resolved byScope(SiteMap map, SiteName name) {
        String scope = scope(name.modulePath());
        Map<Value, List<Site>> sitesByValue = new IdentityHashMap<>();
        for (Site s : map.sites()) {
            sitesByValue.computeIfAbsent(s.value(), v -> new ArrayList<>()).add(s);
        }
        boolean scoped = false;
        Set<Integer> layers = new TreeSet<>();
        Set<String> leaving = new LinkedHashSet<>();
        for (Graph graph : graphsOf(map)) {
            Set<Node> inside = Collections.newSetFromMap(new IdentityHashMap<>());
            for (Node n : graph.nodes()) {
                if (n.name().contains(scope)) {
                    inside.add(n);
                }
            }
            scoped |= !inside.isEmpty();
            for (Node n : inside) {
                for (Value out : n.outputs()) {
                    boolean leaves = out.isGraphOutput() || out.uses().stream().map(Use::node)
                            .anyMatch(r -> !inside.contains(r) && !r.is("Shape") && !r.is("Size"));
                    if (!leaves) {
                        continue;
                    }
                    leaving.add(out.name());
                    for (Site s : sitesByValue.getOrDefault(out, List.of())) {
                        if (s.kind() == name.kind()) {
                            layers.add(s.layer());
                        }
                    }
                }
            }
        }
        if (!scoped) {
            return null;
        }
        if (layers.isEmpty()) {
            Resolved fused = fusedSum(map, name, scope, leaving);
            if (fused != null) {
                return fused;
            }
        }
        if (layers.size() != 1) {
            throw new SiteNotFoundException("module " + name.modulePath() + ": its node scope " + scope + " hands "
                    + (leaving.isEmpty() ? "nothing" : leaving.stream().limit(6).collect(Collectors.toList()))
                    + " to the rest of the graph, " + (layers.isEmpty() ? "none of which is a " + name.kind().label()
                    + " site found by structure" : "which are " + name.kind().label() + " sites of layers " + layers)
                    + "; use our name (" + name.kind().label() + ".L) or inspect the model's sites");
        }
        int layer = layers.iterator().next();
        return new Resolved(name, name.kind(), layer, "by node scope " + scope);
    }

    /**
     * A fused graph (the onnxruntime-genai builder's) computes a block's residual sum in the next block's
     * {@code SkipSimplifiedLayerNormalization}, outside the block's scope: the module's output is then the site of
     * its kind and layer when that site is a skip norm's sum of a value the scope hands on.
     */
    private static Resolved fusedSum(SiteMap map, SiteName name, String scope, Set<String> leaving) {
        for (Site s : map.sites()) {
            if (s.kind() != name.kind() || s.layer() != name.layer() || s.value().producer() == null) {
                continue;
            }
            Node producer = s.value().producer();
            boolean skipNorm = producer.opType().startsWith("Skip") && producer.opType().endsWith("LayerNormalization");
            if (skipNorm && producer.inputs().stream().anyMatch(in -> in != null && leaving.contains(in.name()))) {
                return new Resolved(name, name.kind(), name.layer(), "by node scope " + scope + " (its sum is computed by "
                        + producer.name() + ")");
            }
        }
        return null;
    }

    private static List<Graph> graphsOf(SiteMap map) {
        Set<Graph> roots = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Site s : map.sites()) {
            Graph g = s.graph();
            while (g.parent() != null) {
                g = g.parent();
            }
            roots.add(g);
        }
        List<Graph> graphs = new ArrayList<>();
        for (Graph root : roots) {
            graphs.addAll(root.allGraphs());
        }
        return graphs;
    }

    /** The families whose block names (node scopes or weight names) occur in the model. */
    private static List<Family> familiesOf(SiteMap map) {
        List<Family> found = new ArrayList<>();
        List<Graph> graphs = graphsOf(map);
        for (Family family : FAMILIES) {
            String weights = family.blocks + ".";
            String scope = "/" + family.blocks.replace('.', '/') + ".";
            boolean used = false;
            for (Graph g : graphs) {
                used = g.nodes().stream().anyMatch(n -> n.name().contains(scope))
                        || g.initializers().stream().anyMatch(v -> v.name().startsWith(weights));
                if (used) {
                    break;
                }
            }
            if (used) {
                found.add(family);
            }
        }
        return found;
    }

    // ---------------------------------------------------------------------------------------------
    // Suggestions

    /** The {@code count} valid names closest to {@code text} by edit distance, with its layer number if it has one. */
    static List<String> closest(String text, int count) {
        Matcher digits = Pattern.compile("\\d+").matcher(text);
        String layer = digits.find() ? digits.group() : "0";
        List<String> candidates = new ArrayList<>();
        for (SiteKind kind : SiteKind.values()) {
            candidates.add(kind.label());
            candidates.add(kind.label() + "." + layer);
            candidates.add("blocks." + layer + "." + HOOKS.get(kind));
        }
        for (Family family : FAMILIES) {
            for (String suffix : family.modules.values()) {
                candidates.add(family.blocks + "." + layer + suffix);
            }
        }
        return candidates.stream().distinct()
                .sorted(Comparator.comparingInt((String c) -> distance(text, c)).thenComparing(c -> c))
                .limit(count).toList();
    }

    /** The forms every valid name takes, for error messages. */
    public static String grammar() {
        String ours = Arrays.stream(SiteKind.values()).map(SiteKind::label).collect(Collectors.joining("|"));
        String hooks = HOOKS.values().stream().collect(Collectors.joining("|"));
        String modules = FAMILIES.stream().map(f -> f.blocks + ".L" + (f.modules.size() == 1 ? ""
                : "[" + f.modules.values().stream().filter(s -> !s.isEmpty()).collect(Collectors.joining("|")) + "]"))
                .collect(Collectors.joining(", "));
        return ours + " (optionally .L), blocks.L." + hooks + ", " + modules;
    }

    /** Levenshtein distance. */
    static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j] + 1, current[j - 1] + 1));
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
