package dev.onnxsteer.server;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The steering vectors a server offers, by name: every {@code .gguf} and {@code .safetensors} file
 * directly inside one directory, named by its file name without the extension. Read once at
 * start-up and checked against the model's sites; requests can only name these, never a path.
 * Immutable: a {@link VectorStore} replaces the whole registry when a vector is uploaded or deleted,
 * so a request keeps the registry (and the vectors) it was admitted with.
 */
public final class VectorRegistry {
    /**
     * A registered vector file.
     *
     * @param name    the file name without extension, as requests name it
     * @param file    where it was read from (never shown to clients)
     * @param vectors its contents
     * @param kind    the site kind it steers (from its metadata)
     * @param origin  {@link #STARTUP}, {@link #UPLOAD} or {@link #SAE}
     * @param sha256  of the file's bytes (of the decoder row's float32 values, for an SAE feature)
     */
    public record Entry(String name, Path file, SteeringVectors vectors, SiteKind kind, String origin, String sha256) {
        /** The L2 norm of each layer's vector, by layer. */
        public Map<Integer, Double> norms() {
            Map<Integer, Double> norms = new TreeMap<>();
            vectors.layers().forEach((layer, v) -> {
                double sum = 0;
                for (float x : v) {
                    sum += (double) x * x;
                }
                norms.put(layer, Math.sqrt(sum));
            });
            return norms;
        }
    }

    /** Entry origins: read from the vectors directory at start-up, or uploaded through the API. */
    public static final String STARTUP = "startup";
    public static final String UPLOAD = "upload";
    /** A feature of a registered SAE, bound to one request ({@link SaeRegistry#bind}). */
    public static final String SAE = "sae";

    private final Map<String, Entry> entries;

    private VectorRegistry(Map<String, Entry> entries) {
        this.entries = Collections.unmodifiableMap(entries);
    }

    /** Entries built in memory (tests, embedding); names must be unique. */
    public static VectorRegistry of(List<Entry> list) {
        Map<String, Entry> map = new TreeMap<>();
        for (Entry e : list) {
            if (map.put(e.name(), e) != null) {
                throw new IllegalArgumentException("two vectors are named " + e.name());
            }
        }
        return new VectorRegistry(map);
    }

    /**
     * Reads every vector file in {@code dir} and checks it against {@code sites}: hidden size, site
     * kind and layers must exist in the model.
     *
     * @param allowLarge accept vectors beyond the plausible norm ({@code VectorBounds}) instead of refusing the file
     * @throws BadVectorException when a file cannot be read, two files share a name, or a vector does not fit
     */
    public static VectorRegistry load(Path dir, SiteMap sites, boolean allowLarge) {
        if (!Files.isDirectory(dir)) {
            throw new BadVectorException("vectors directory " + dir + " does not exist or is not a directory");
        }
        List<Path> files;
        try (Stream<Path> listing = Files.list(dir)) {
            files = listing.filter(Files::isRegularFile).filter(VectorRegistry::isVectorFile).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        Map<String, Entry> map = new TreeMap<>();
        for (Path file : files) {
            String fileName = file.getFileName().toString();
            String name = fileName.substring(0, fileName.lastIndexOf('.'));
            SteeringVectors vectors = VectorFiles.read(file, allowLarge);
            SiteKind kind;
            try {
                kind = SiteKind.parse(vectors.metadata().site());
            } catch (IllegalArgumentException e) {
                throw new BadVectorException("vector file " + file + ": " + e.getMessage());
            }
            checkFits("vector file " + file, vectors, kind, sites);
            Entry previous = map.put(name, new Entry(name, file, vectors, kind, STARTUP, Provenance.sha256(file)));
            if (previous != null) {
                throw new BadVectorException("vector files " + previous.file() + " and " + file
                        + " both register the name " + name + "; rename one");
            }
        }
        return new VectorRegistry(map);
    }

    /** This registry plus {@code entry} (whose name must be new). */
    VectorRegistry with(Entry entry) {
        Map<String, Entry> map = new TreeMap<>(entries);
        if (map.put(entry.name(), entry) != null) {
            throw new IllegalArgumentException("a vector named " + entry.name() + " is already registered");
        }
        return new VectorRegistry(map);
    }

    /** This registry without the vector {@code name}. */
    VectorRegistry without(String name) {
        Map<String, Entry> map = new TreeMap<>(entries);
        map.remove(name);
        return new VectorRegistry(map);
    }

    static boolean isVectorFile(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".gguf") || n.endsWith(".safetensors");
    }

    /** @param file how messages name the vectors (a file path, or "the uploaded vector NAME") */
    static void checkFits(String file, SteeringVectors vectors, SiteKind kind, SiteMap sites) {
        for (int layer : vectors.layerIndices()) {
            var found = sites.find(kind, layer);
            if (found.isEmpty()) {
                throw new BadVectorException(file + " steers " + kind.label() + "." + layer
                        + " but the model has no such site (it has " + sites.layerCount() + " layers)");
            }
            long hidden = found.get(0).hiddenSize();
            if (hidden != vectors.hiddenSize()) {
                throw new BadVectorException(file + " has " + vectors.hiddenSize()
                        + " values per layer but " + kind.label() + "." + layer + " of the model has hidden size " + hidden);
            }
        }
    }

    /** Names, sorted. */
    public List<String> names() {
        return new ArrayList<>(entries.keySet());
    }

    public Optional<Entry> find(String name) {
        return Optional.ofNullable(entries.get(name));
    }

    public List<Entry> entries() {
        return new ArrayList<>(entries.values());
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    /** Every (site kind, layer) any registered vector steers, e.g. {@code resid_post -> [2, 3]}. */
    public Map<SiteKind, SortedSet<Integer>> sitesUsed() {
        Map<SiteKind, SortedSet<Integer>> used = new LinkedHashMap<>();
        for (Entry e : entries.values()) {
            used.computeIfAbsent(e.kind(), k -> new java.util.TreeSet<>()).addAll(e.vectors().layerIndices());
        }
        return used;
    }
}
