package dev.onnxsteer.vectors;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.io.FileProblem;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Reads and writes steering vector files, choosing the format by extension: {@code .gguf} or {@code .safetensors}. */
public final class VectorFiles {
    private VectorFiles() {}

    public enum Format { GGUF, SAFETENSORS }

    public static Format formatOf(Path path) {
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".gguf")) {
            return Format.GGUF;
        }
        if (name.endsWith(".safetensors")) {
            return Format.SAFETENSORS;
        }
        throw new BadVectorException(FileProblem.message(path, "is not a vector file", "a name ending in .gguf or .safetensors",
                path.getFileName()));
    }

    /**
     * The format of a file the user asks to be written; an unknown extension is the user's option, not a bad file.
     *
     * @throws IllegalArgumentException for a name that ends in neither {@code .gguf} nor {@code .safetensors}
     */
    public static Format outputFormatOf(Path path) {
        try {
            return formatOf(path);
        } catch (BadVectorException e) {
            throw new IllegalArgumentException("output " + path + " is not a vector file name (expected a name ending in "
                    + ".gguf or .safetensors, found " + FileProblem.printable(path.getFileName().toString()) + ")");
        }
    }

    /** Reads a vector file, refusing vectors too large to be anything but corruption ({@link VectorBounds}). */
    public static SteeringVectors read(Path path) {
        return read(path, false);
    }

    /** Reads a vector file; {@code allowLarge} skips the {@link VectorBounds} check (finite values are still required). */
    public static SteeringVectors read(Path path, boolean allowLarge) {
        SteeringVectors vectors = switch (formatOf(path)) {
            case GGUF -> ControlVectorGguf.read(path);
            case SAFETENSORS -> SafetensorsVectors.read(path);
        };
        if (!allowLarge) {
            VectorBounds.check(vectors);
        }
        return vectors;
    }

    /**
     * Reads what {@code --vector} names: a vector file, or an SAE feature {@code sae:DIR#FEATURE[,unit]}
     * ({@link SaeFeatures}).
     */
    public static SteeringVectors readSource(String source, boolean allowLarge) {
        if (!SaeFeatures.isSpec(source)) {
            return read(Path.of(source), allowLarge);
        }
        SteeringVectors vectors = SaeFeatures.read(source);
        if (!allowLarge) {
            VectorBounds.check(vectors);
        }
        return vectors;
    }

    /** The file or directory a {@link #readSource} source reads. */
    public static Path pathOf(String source) {
        return SaeFeatures.isSpec(source) ? SaeFeatures.parse(source).directory() : Path.of(source);
    }

    public static void write(SteeringVectors vectors, Path path) {
        switch (formatOf(path)) {
            case GGUF -> ControlVectorGguf.write(vectors, path);
            case SAFETENSORS -> SafetensorsVectors.write(vectors, path);
        }
    }

    /** Reads several files and sums them, each times its coefficient (see {@link SteeringVectors#combine}). */
    public static SteeringVectors readCombined(List<Path> paths, List<Float> coefficients, boolean allowLarge) {
        if (paths.size() != coefficients.size()) {
            throw new IllegalArgumentException(paths.size() + " vector files but " + coefficients.size() + " coefficients");
        }
        List<SteeringVectors.Term> terms = new ArrayList<>();
        for (int i = 0; i < paths.size(); i++) {
            terms.add(new SteeringVectors.Term(read(paths.get(i), allowLarge), coefficients.get(i)));
        }
        return SteeringVectors.combine(terms);
    }
}
