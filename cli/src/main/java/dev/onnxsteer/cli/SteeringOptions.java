package dev.onnxsteer.cli;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.vectors.SteeringVectors;
import dev.onnxsteer.vectors.VectorFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedSet;
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
            description = "resid_post (default), resid_pre, resid_mid, attn_out or mlp_out.")
    String site;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "auto",
            description = "auto (default: bias where valid, else add), add, input or bias.")
    String mode;

    boolean present() {
        return !vectors.isEmpty();
    }

    Mode mode() {
        return Mode.parse(mode);
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
        SiteKind kind = SiteKind.parse(site != null ? site : combined.metadata().site());
        SortedSet<Integer> available = combined.layerIndices();
        SortedSet<Integer> chosen = layers == null ? available : LayerSelection.parse(layers, sites.layerCount());
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
