package dev.onnxsteer.vectors;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.io.FileProblem;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Steering vectors: one {@code float[hiddenSize]} per 0-based layer index (the {@code L} of the site
 * {@code site.L}, e.g. {@code resid_post.3}), plus {@link VectorMetadata}. Immutable; arrays are copied in
 * and out. Every value is finite. {@link #source()} names where the vectors came from in error messages and
 * takes no part in equality.
 */
public final class SteeringVectors {
    private final int hiddenSize;
    private final TreeMap<Integer, float[]> layers;
    private final VectorMetadata metadata;
    private final String source;

    /** A vector scaled by a coefficient, one term of {@link #combine}. */
    public record Term(SteeringVectors vectors, float coefficient) {
        public Term {
            Objects.requireNonNull(vectors, "vectors");
        }
    }

    /**
     * @param hiddenSize the length of every vector
     * @param layers vectors by 0-based layer index; at least one
     * @param source the file (or other origin) named in error messages
     * @throws BadVectorException when a vector has the wrong length or a value that is NaN or infinite
     */
    public SteeringVectors(int hiddenSize, Map<Integer, float[]> layers, VectorMetadata metadata, String source) {
        this.source = source == null ? "<memory>" : source;
        this.metadata = Objects.requireNonNull(metadata, "metadata");
        if (hiddenSize <= 0) {
            throw new BadVectorException(FileProblem.message(this.source, "has no usable hidden size", "a positive size", hiddenSize));
        }
        if (layers.isEmpty()) {
            throw new BadVectorException(FileProblem.message(this.source, "has no vectors", "at least one layer", "none"));
        }
        this.hiddenSize = hiddenSize;
        this.layers = new TreeMap<>();
        for (Map.Entry<Integer, float[]> e : layers.entrySet()) {
            int layer = e.getKey();
            float[] v = e.getValue();
            if (layer < 0) {
                throw new BadVectorException(FileProblem.message(this.source, "has an impossible layer index", "a 0-based layer index", layer));
            }
            if (v.length != hiddenSize) {
                throw new BadVectorException(FileProblem.message(this.source, "layer " + layer + " does not have the hidden size",
                        hiddenSize + " values", v.length + " values"));
            }
            checkFinite(v, this.source, layer);
            this.layers.put(layer, v.clone());
        }
    }

    /** Vectors made in memory (source {@code <memory>}). */
    public static SteeringVectors of(Map<Integer, float[]> layers, VectorMetadata metadata) {
        int hidden = layers.isEmpty() ? 0 : layers.values().iterator().next().length;
        return new SteeringVectors(hidden, layers, metadata, null);
    }

    static void checkFinite(float[] v, String source, int layer) {
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                throw new BadVectorException(FileProblem.message(source, "layer " + layer + " has "
                        + (Float.isNaN(v[i]) ? "NaN" : "an infinite value") + " at index " + i, "finite values", v[i]));
            }
        }
    }

    public int hiddenSize() {
        return hiddenSize;
    }

    /** The layer indices that have a vector, ascending. */
    public SortedSet<Integer> layerIndices() {
        return Collections.unmodifiableSortedSet(new TreeSet<>(layers.keySet()));
    }

    public boolean hasLayer(int layer) {
        return layers.containsKey(layer);
    }

    /** A copy of the vector for {@code layer}. */
    public float[] layer(int layer) {
        float[] v = layers.get(layer);
        if (v == null) {
            throw new BadVectorException(FileProblem.message(source, "has no vector for layer " + layer, "one of its layers "
                    + layers.keySet(), "none"));
        }
        return v.clone();
    }

    /** Copies of all vectors, by ascending layer. */
    public Map<Integer, float[]> layers() {
        TreeMap<Integer, float[]> copy = new TreeMap<>();
        layers.forEach((k, v) -> copy.put(k, v.clone()));
        return copy;
    }

    public VectorMetadata metadata() {
        return metadata;
    }

    public String source() {
        return source;
    }

    public SteeringVectors withMetadata(VectorMetadata metadata) {
        return new SteeringVectors(hiddenSize, layers, metadata, source);
    }

    public SteeringVectors withSource(String source) {
        return new SteeringVectors(hiddenSize, layers, metadata, source);
    }

    /**
     * Sums several sets of vectors, each times its own coefficient: for every layer present in any term,
     * {@code sum(coefficient_t * vector_t[layer])} over the terms that have that layer, in float arithmetic
     * and term order (as llama.cpp sums several {@code --control-vector-scaled} files). All terms must have
     * the same hidden size and site. The result keeps the common method, source model hash and model hint
     * (method {@code combined} when they differ) and records the recipe in {@code extra["combined_from"]}.
     */
    public static SteeringVectors combine(List<Term> terms) {
        if (terms.isEmpty()) {
            throw new IllegalArgumentException("combine needs at least one vector file");
        }
        SteeringVectors first = terms.get(0).vectors();
        String method = first.metadata.method();
        String hash = first.metadata.sourceModelHash();
        String hint = first.metadata.modelHint();
        TreeMap<Integer, float[]> sum = new TreeMap<>();
        List<String> recipe = new ArrayList<>();
        for (Term term : terms) {
            SteeringVectors v = term.vectors();
            if (v.hiddenSize != first.hiddenSize) {
                throw new BadVectorException(FileProblem.message(v.source, "cannot be added to " + first.source,
                        "hidden size " + first.hiddenSize + " as there", "hidden size " + v.hiddenSize));
            }
            if (!v.metadata.site().equals(first.metadata.site())) {
                throw new BadVectorException(FileProblem.message(v.source, "cannot be added to " + first.source,
                        "site " + first.metadata.site() + " as there", "site " + v.metadata.site()));
            }
            method = Objects.equals(method, v.metadata.method()) ? method : "combined";
            hash = Objects.equals(hash, v.metadata.sourceModelHash()) ? hash : null;
            hint = hint != null ? hint : v.metadata.modelHint();
            recipe.add(v.source + "*" + term.coefficient());
            for (Map.Entry<Integer, float[]> e : v.layers.entrySet()) {
                float[] acc = sum.computeIfAbsent(e.getKey(), k -> new float[first.hiddenSize]);
                float[] x = e.getValue();
                for (int i = 0; i < acc.length; i++) {
                    acc[i] += x[i] * term.coefficient();
                }
            }
        }
        VectorMetadata metadata = new VectorMetadata(first.metadata.site(), method, hash, hint, first.metadata.extra())
                .withExtra("combined_from", String.join(" + ", recipe));
        return new SteeringVectors(first.hiddenSize, sum, metadata, terms.size() == 1 ? first.source : "combination of " + recipe);
    }

    /** Equal when hidden size, every vector (bit for bit) and metadata are equal; the source is ignored. */
    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SteeringVectors other)) {
            return false;
        }
        if (hiddenSize != other.hiddenSize || !layers.keySet().equals(other.layers.keySet())
                || !metadata.equals(other.metadata)) {
            return false;
        }
        for (Map.Entry<Integer, float[]> e : layers.entrySet()) {
            if (!Arrays.equals(e.getValue(), other.layers.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        return Objects.hash(hiddenSize, layers.keySet(), metadata);
    }

    @Override
    public String toString() {
        return "SteeringVectors[" + source + ", hidden " + hiddenSize + ", " + metadata.site() + " layers " + layers.keySet() + "]";
    }
}
