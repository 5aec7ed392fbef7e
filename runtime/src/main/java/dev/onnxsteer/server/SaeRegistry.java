package dev.onnxsteer.server;

import dev.onnxsteer.BadInputException;
import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.io.FileProblem;
import dev.onnxsteer.passes.Provenance;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.vectors.SaeFeatures;
import dev.onnxsteer.vectors.SteeringVectors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The sparse autoencoders a server offers features of ({@code serve --sae NAME=DIR}), by name: SAELens
 * directories read by {@link SaeFeatures} and checked at start-up (cfg.json, the decoder's shape, {@code d_in}
 * against the hook's site). A request names an SAE and a feature, never a path, and its row of {@code W_dec}
 * becomes a vector bound to that request alone.
 */
final class SaeRegistry {
    /** One registered SAE. */
    record Sae(String name, Path directory, SaeFeatures.Config config) {}

    private final Map<String, Sae> saes;

    private SaeRegistry(Map<String, Sae> saes) {
        this.saes = Collections.unmodifiableMap(saes);
    }

    /**
     * Reads and checks every SAE of {@code directories} (name to directory) against {@code sites}.
     *
     * @throws BadInputException naming the SAE when a name is not a vector name, a directory is not a SAELens
     *                           directory onnx-steer can read, or its features do not fit the hook's site
     */
    static SaeRegistry load(Map<String, Path> directories, SiteMap sites) {
        Map<String, Sae> map = new TreeMap<>();
        directories.forEach((name, directory) -> {
            if (!VectorStore.NAME.matcher(name).matches()) {
                throw new BadVectorException("SAE name " + FileProblem.printable(name) + " is not usable: an SAE name is"
                        + " 1-64 letters, digits, '_', '-' or '.', not starting with '.'");
            }
            SaeFeatures.Config config = SaeFeatures.config(directory);
            // feature 0 proves the decoder's shape and offsets; every row has the same length
            SteeringVectors first = SaeFeatures.read(new SaeFeatures.Spec(directory, 0, false));
            VectorRegistry.checkFits("SAE " + name + " (" + directory + ", hook " + config.hookName() + ")", first,
                    config.site().kind(), sites);
            map.put(name, new Sae(name, directory, config));
        });
        return new SaeRegistry(map);
    }

    /** Names, sorted. */
    List<String> names() {
        return new ArrayList<>(saes.keySet());
    }

    /** Every (site kind, layer) a registered SAE's features steer. */
    Map<SiteKind, SortedSet<Integer>> sitesUsed() {
        Map<SiteKind, SortedSet<Integer>> used = new LinkedHashMap<>();
        for (Sae sae : saes.values()) {
            used.computeIfAbsent(sae.config().site().kind(), k -> new TreeSet<>()).add(sae.config().site().layer());
        }
        return used;
    }

    /**
     * The vectors a request's steering is bound to: {@code vectors} plus, under each SAE entry's label, that
     * feature's decoder row (unit length with {@code unit}).
     *
     * @throws IllegalArgumentException for an unknown SAE (naming the known ones) or a feature out of range
     * @throws ApiError                 500 when a registered SAE can no longer be read
     */
    VectorRegistry bind(List<SteeringTerm> terms, VectorRegistry vectors) {
        VectorRegistry bound = vectors;
        for (SteeringTerm term : terms) {
            SteeringTerm.Feature feature = term.feature();
            if (feature == null || bound.find(term.vector()).filter(e -> e.origin().equals(VectorRegistry.SAE)).isPresent()) {
                continue;
            }
            Sae sae = saes.get(feature.sae());
            if (sae == null) {
                throw new IllegalArgumentException("unknown SAE '" + FileProblem.printable(feature.sae()) + "'; "
                        + (saes.isEmpty() ? "this server has none (start serve with --sae NAME=DIR)" : "known SAEs: " + names()));
            }
            int dSae = sae.config().dSae();
            if (feature.feature() >= dSae) {
                throw new IllegalArgumentException("SAE " + sae.name() + " has features 0.." + (dSae - 1) + " (d_sae "
                        + dSae + "), got feature " + feature.feature());
            }
            SteeringVectors row;
            try {
                row = SaeFeatures.read(new SaeFeatures.Spec(sae.directory(), feature.feature(), feature.unit()));
            } catch (BadInputException e) {
                // the message names the directory, which clients are never shown
                throw new ApiError(500, "server_error", null, "SAE " + sae.name() + " can no longer be read: its"
                        + " directory changed after the server started");
            }
            bound = bound.with(new VectorRegistry.Entry(term.vector(), sae.directory(), row, sae.config().site().kind(),
                    VectorRegistry.SAE, Provenance.sha256(row.layer(sae.config().site().layer()))));
        }
        return bound;
    }
}
