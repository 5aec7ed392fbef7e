package dev.onnxsteer.server;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.SteerException;
import dev.onnxsteer.io.AtomicFiles;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SortedSet;
import java.util.regex.Pattern;

/**
 * The served vectors as they change at run time: uploads are checked against the model and the
 * sites the served model takes steering at, written into the vectors directory atomically (a
 * staging directory inside it, then a rename), and published as a new {@link VectorRegistry};
 * deletes publish a registry without the vector and remove its file. Readers take {@link #current}
 * once per request and keep it, so a request in flight keeps its vectors. Thread-safe.
 */
public final class VectorStore {
    /** Names as requests and file names carry them (vectors and SAEs): letters, digits, '_', '-', '.', not starting with '.'. */
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}");

    /** Why a change was refused. */
    public enum Reason { READ_ONLY, BAD_NAME, EXISTS, UNKNOWN, BAD_FILE, NOT_STEERABLE, TOO_LARGE }

    /** A refused upload or delete; {@link #reason} says which kind. */
    public static final class Refusal extends SteerException {
        private final Reason reason;

        Refusal(Reason reason, String message) {
            super(message);
            this.reason = reason;
        }

        public Reason reason() {
            return reason;
        }
    }

    private final Path dir;
    private final SiteMap sites;
    private final Map<SiteKind, SortedSet<Integer>> steerable;
    private final boolean readOnly;
    private final int maxBytes;
    private final boolean allowLarge;
    private volatile VectorRegistry current;

    /**
     * @param steerable the sites the served model has steering inputs at (site kind to layers)
     * @param readOnly  refuse every upload and delete
     * @param maxBytes  the largest file an upload may bring
     * @param allowLarge accept uploads whose vectors are beyond the plausible norm ({@code VectorBounds})
     */
    public VectorStore(Path dir, SiteMap sites, Map<SiteKind, SortedSet<Integer>> steerable, VectorRegistry initial,
            boolean readOnly, int maxBytes, boolean allowLarge) {
        this.maxBytes = maxBytes;
        this.allowLarge = allowLarge;
        this.dir = dir;
        this.sites = sites;
        this.steerable = steerable;
        this.current = initial;
        this.readOnly = readOnly;
    }

    /** The vectors now; a request keeps the registry it took. */
    public VectorRegistry current() {
        return current;
    }

    public boolean readOnly() {
        return readOnly;
    }

    /** The largest upload accepted, in bytes. */
    public int maxBytes() {
        return maxBytes;
    }

    /**
     * Checks {@code bytes} (a {@code .gguf} control vector or {@code .safetensors} file, told apart by
     * their first bytes) against the model and stores it as {@code NAME.gguf} / {@code NAME.safetensors}.
     *
     * @throws Refusal naming the problem
     */
    public synchronized VectorRegistry.Entry add(String name, byte[] bytes) {
        requireWritable();
        if (name == null || !NAME.matcher(name).matches()) {
            throw new Refusal(Reason.BAD_NAME, "a vector name is 1-64 letters, digits, '_', '-' or '.', not starting with"
                    + " '.', got " + (name == null ? "nothing" : "'" + name + "'"));
        }
        if (current.find(name).isPresent()) {
            throw new Refusal(Reason.EXISTS, "a vector named " + name + " already exists; DELETE /v1/vectors/" + name + " first");
        }
        if (bytes.length > maxBytes) {
            throw new Refusal(Reason.TOO_LARGE, "the uploaded vector is " + bytes.length + " bytes; the limit is " + maxBytes);
        }
        String extension = extension(bytes);
        Path target = dir.resolve(name + extension);
        Path staging = null;
        try {
            staging = AtomicFiles.stagingDirectory(target);
            Path file = staging.resolve(name + extension);
            Files.write(file, bytes);
            SteeringVectors vectors = read(file, name, allowLarge);
            SiteKind kind;
            try {
                kind = SiteKind.parse(vectors.metadata().site());
            } catch (IllegalArgumentException e) {
                throw new Refusal(Reason.BAD_FILE, "the uploaded vector " + name + ": " + e.getMessage());
            }
            try {
                VectorRegistry.checkFits("the uploaded vector " + name, vectors, kind, sites);
            } catch (BadVectorException e) {
                throw new Refusal(Reason.BAD_FILE, e.getMessage());
            }
            SortedSet<Integer> layers = steerable.get(kind);
            if (layers == null || !layers.containsAll(vectors.layerIndices())) {
                throw new Refusal(Reason.NOT_STEERABLE, "the uploaded vector " + name + " steers " + kind.label() + " at layers "
                        + vectors.layerIndices() + " but this server takes steering at " + describe(steerable)
                        + "; put the file in the vectors directory and restart to serve other sites");
            }
            if (Files.exists(target)) {
                throw new Refusal(Reason.EXISTS, "the vectors directory already has a file " + target.getFileName());
            }
            AtomicFiles.moveIntoPlace(file, target);
            VectorRegistry.Entry entry = new VectorRegistry.Entry(name, target, vectors.withSource(target.toString()), kind,
                    VectorRegistry.UPLOAD, Provenance.sha256(target));
            current = current.with(entry);
            return entry;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot store the uploaded vector in " + dir + ": " + e.getMessage(), e);
        } finally {
            if (staging != null) {
                AtomicFiles.deleteTree(staging);
            }
        }
    }

    /**
     * Unregisters {@code name} and deletes its file; requests already admitted keep using it.
     *
     * @throws Refusal when read-only or unknown
     */
    public synchronized VectorRegistry.Entry remove(String name) {
        requireWritable();
        VectorRegistry.Entry entry = current.find(name).orElseThrow(() -> new Refusal(Reason.UNKNOWN,
                "unknown vector '" + name + "'; known vectors: " + current.names()));
        current = current.without(name);
        try {
            Files.deleteIfExists(entry.file());
        } catch (IOException e) {
            throw new UncheckedIOException("unregistered " + name + " but cannot delete " + entry.file() + ": "
                    + e.getMessage(), e);
        }
        return entry;
    }

    private void requireWritable() {
        if (readOnly) {
            throw new Refusal(Reason.READ_ONLY, "vectors are read-only on this server (--read-only-vectors)");
        }
    }

    private static SteeringVectors read(Path file, String name, boolean allowLarge) {
        try {
            return VectorFiles.read(file, allowLarge);
        } catch (BadVectorException | UncheckedIOException e) {
            throw new Refusal(Reason.BAD_FILE, "the uploaded vector " + name + " is not a readable "
                    + file.getFileName().toString().replaceFirst("^.*\\.", ".") + " file: " + e.getMessage());
        }
    }

    /** {@code .gguf} files start with "GGUF"; safetensors with a little-endian header length, then '{'. */
    private static String extension(byte[] bytes) {
        if (bytes.length >= 4 && new String(bytes, 0, 4, StandardCharsets.US_ASCII).equals("GGUF")) {
            return ".gguf";
        }
        if (bytes.length > 9 && bytes[8] == '{') {
            return ".safetensors";
        }
        throw new Refusal(Reason.BAD_FILE, "the body is neither a .gguf control vector (starts with GGUF) nor a"
                + " .safetensors file (8-byte header length, then a JSON header); got " + bytes.length + " bytes");
    }

    static String describe(Map<SiteKind, SortedSet<Integer>> steerable) {
        if (steerable.isEmpty()) {
            return "no site (start it with a vector file, or without --read-only-vectors)";
        }
        StringBuilder out = new StringBuilder();
        steerable.forEach((kind, layers) -> out.append(out.length() == 0 ? "" : ", ").append(kind.label())
                .append(" layers ").append(layers));
        return out.toString();
    }
}
