package dev.onnxsteer.cli;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.sites.SiteNames;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import picocli.CommandLine.Option;

/** The options that say what to steer with; shared by compile and generate. */
final class SteeringOptions {
    @Option(names = "--vector", paramLabel = "FILE[:COEFF]",
            description = "A .gguf control vector or .safetensors vector file, optionally with its own coefficient "
                    + "(repeatable; vectors for the same layer are summed).")
    List<String> vectors = new ArrayList<>();

    @Option(names = "--coeff", paramLabel = "C", defaultValue = "1",
            description = "Coefficient applied to every vector (default ${DEFAULT-VALUE}).")
    float coefficient;

    @Option(names = "--layers", paramLabel = "2,3|1-4|all",
            description = "Layers to steer (default: the layers the vector files have).")
    String layers;

    @Option(names = "--site", paramLabel = "SITE",
            description = {"resid_post (default), resid_pre, attn_in, attn_out, resid_mid, mlp_in or mlp_out, "
                    + "optionally with its layer (resid_post.2);",
                    "or a TransformerLens hook name (blocks.2.hook_resid_post, blocks.2.ln1.hook_normalized);",
                    "or the Hugging Face module path whose output a hook would change (transformer.h.2.mlp, "
                    + "model.layers.2.self_attn, encoder.layer.2).",
                    "A name with a layer steers that layer with the vector file's vector for it (or its only one)."})
    String site;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "auto",
            description = "auto (default: bias where valid, else add), add, input or bias.")
    String mode;

    @Option(names = "--create-bias",
            description = "With --mode bias at attn_in/mlp_in: give projections without a bias (llama) one bias "
                    + "initializer each, instead of refusing.")
    boolean createBias;

    boolean present() {
        return !vectors.isEmpty();
    }

    Mode mode() {
        return Mode.parse(mode);
    }

    boolean createBias() {
        return createBias;
    }

    /** The steering the options ask for, checked against the model's sites. */
    List<Steering> steerings(SiteMap sites) {
        if (vectors.isEmpty()) {
            throw new IllegalArgumentException("no vector given: pass --vector FILE[:COEFF]");
        }
        List<Path> paths = new ArrayList<>();
        List<Float> coefficients = new ArrayList<>();
        for (String spec : vectors) {
            int colon = spec.lastIndexOf(':');
            Float own = null;
            if (colon > 0) {
                try {
                    own = Float.parseFloat(spec.substring(colon + 1));
                } catch (NumberFormatException notACoefficient) {
                    own = null;
                }
            }
            paths.add(Path.of(own == null ? spec : spec.substring(0, colon)));
            coefficients.add(own == null ? 1f : own);
        }
        // One file keeps its raw vector so the recorded coefficient is the one the user chose;
        // several are summed with their own coefficients first, as llama.cpp does.
        boolean single = paths.size() == 1;
        SteeringVectors combined = single ? VectorFiles.read(paths.get(0)) : VectorFiles.readCombined(paths, coefficients);
        float scale = single ? coefficients.get(0) * coefficient : coefficient;
        SiteNames.SiteName name = SiteNames.parse(site != null ? site : combined.metadata().site());
        SiteKind kind = name.kind();
        SortedSet<Integer> available = combined.layerIndices();
        SortedSet<Integer> chosen = layers == null ? available : LayerSelection.parse(layers, sites.layerCount());
        if (name.hasLayer()) {
            // the site names its layer (blocks.2.hook_resid_post, transformer.h.2.mlp, resid_post.2)
            SiteNames.Resolved resolved = SiteNames.resolve(sites, name.text());
            SortedSet<Integer> named = new TreeSet<>(Set.of(resolved.layer()));
            if (layers != null && !chosen.equals(named)) {
                throw new IllegalArgumentException("--site " + name.text() + " names layer " + resolved.layer()
                        + " but --layers says " + layers + "; give the layer once");
            }
            kind = resolved.kind();
            chosen = named;
        }
        List<Steering> steerings = new ArrayList<>();
        for (int layer : chosen) {
            float[] vector;
            if (combined.hasLayer(layer)) {
                vector = combined.layer(layer);
            } else if (available.size() == 1) {
                vector = combined.layer(available.first());
            } else {
                throw new BadVectorException("no vector for layer " + layer + " in " + paths + "; they have layers "
                        + available);
            }
            steerings.add(new Steering(kind, layer, vector, scale));
        }
        if (steerings.isEmpty()) {
            throw new BadVectorException("the vector files " + paths + " hold no layers to steer");
        }
        return steerings;
    }
}
