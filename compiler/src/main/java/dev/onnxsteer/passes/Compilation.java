package dev.onnxsteer.passes;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.InvalidModelException;
import dev.onnxsteer.io.GenaiConfig;
import dev.onnxsteer.io.LoadCheck;
import dev.onnxsteer.io.ModelDirectoryWriter;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.OutputTarget;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.TypeCheck;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Steering compilation from a source model: read, find sites, plan, then one list of passes (the
 * steering or orthogonalisation, its {@link Provenance} record, a caller's extra rewrites) run by
 * {@link PassRunner}, which ends with the type check; {@code compileTo} then writes the model through
 * {@link ModelDirectoryWriter}, whose {@link LoadCheck} is the last check before the rename.
 */
public final class Compilation {
    /**
     * A compiled model in memory, what was done to it, and the sites it was done at. {@code applied}
     * has one entry per site copy for the in-graph operations; {@code rewritten} lists the weights an
     * orthogonalisation changed (empty otherwise); {@code notes} says what writing the output directory found
     * (an onnxruntime-genai config updated, inputs onnxruntime-genai cannot feed), empty before it is written.
     */
    public record Result(Model model, List<SteerPass.Applied> applied, SiteMap sites,
            List<OrthogonalizePass.Rewritten> rewritten, List<String> notes) {
        public Result {
            applied = List.copyOf(applied);
            rewritten = List.copyOf(rewritten);
            notes = List.copyOf(notes);
        }

        Result(Model model, List<SteerPass.Applied> applied, SiteMap sites, List<OrthogonalizePass.Rewritten> rewritten) {
            this(model, applied, sites, rewritten, List.of());
        }
    }

    /** Chooses the steering once the model's sites are known (so layer choices can be checked against them). */
    @FunctionalInterface
    public interface Plan {
        List<Steering> steeringFor(SiteMap sites);
    }

    private Compilation() {}

    /** Compiles in memory; the source files are only read. */
    public static Result compile(ModelFiles source, List<Steering> steerings, Mode mode) {
        return compile(source, sites -> steerings, mode, SteerOptions.ADD);
    }

    /** Compiles in memory with steering chosen from the discovered sites. */
    public static Result compile(ModelFiles source, Plan plan, Mode mode) {
        return compile(source, plan, mode, SteerOptions.ADD);
    }

    /**
     * Compiles in memory with an operation other than plain addition (see {@link SteerOptions}). The
     * nodes the rewrite touched are type-checked (see {@link TypeCheck}); a disagreement throws
     * {@link InvalidModelException}.
     */
    public static Result compile(ModelFiles source, Plan plan, Mode mode, SteerOptions options) {
        return compile(source, plan, mode, options, List.of());
    }

    /**
     * As {@link #compile(ModelFiles, Plan, Mode, SteerOptions)}, then {@code extraRewrites} in order (a
     * tool's own rewrite on top of the steering); the type check covers what they touched too.
     */
    public static Result compile(ModelFiles source, Plan plan, Mode mode, SteerOptions options,
            List<Pass> extraRewrites) {
        Model model = ModelReader.read(source.onnx());
        SiteMap sites = SiteFinder.find(model);
        List<Steering> steerings = plan.steeringFor(sites);
        String sourceSha = Provenance.sha256(source.onnx());
        List<Pass> passes = new ArrayList<>();
        SteerPass steer = null;
        OrthogonalizePass orthogonalize = null;
        if (options.op() == SteerOp.ORTHOGONALIZE) {
            float[] direction = direction(steerings);
            orthogonalize = new OrthogonalizePass(sites, direction, options.exact());
            passes.add(orthogonalize);
            passes.add(Provenance.recordingOrthogonalize(orthogonalize, direction, sourceSha, source.onnx()));
        } else {
            steer = new SteerPass(sites, steerings, mode, options);
            passes.add(steer);
            passes.add(Provenance.recording(steer, sourceSha, source.onnx()));
            for (Pass extra : extraRewrites) {
                if (extra instanceof AfterSteering after) {
                    after.bind(sites, steer);
                }
            }
        }
        passes.addAll(extraRewrites);
        PassRunner.run(model, passes);
        return steer != null ? new Result(model, steer.applied(), sites, List.of())
                : new Result(model, List.of(), sites, orthogonalize.rewritten());
    }

    /**
     * The one direction an orthogonalisation uses: every steering must carry the same vector up to
     * scale (the layer does not matter for weights that act everywhere).
     */
    static float[] direction(List<Steering> steerings) {
        if (steerings.isEmpty()) {
            throw new BadVectorException("orthogonalize needs a direction vector");
        }
        float[] first = steerings.get(0).vector();
        double[] r = VectorMath.unitExact(first);
        for (Steering s : steerings) {
            if (s.vector().length != first.length || VectorMath.norm(s.vector()) == 0) {
                throw new BadVectorException("orthogonalize uses one direction, but the vectors given differ in size "
                        + "or are zero; pass one layer with --layers L");
            }
            double[] other = VectorMath.unitExact(s.vector());
            double dot = 0;
            for (int i = 0; i < r.length; i++) {
                dot += r[i] * other[i];
            }
            if (Math.abs(Math.abs(dot) - 1) > 1e-6) {
                List<Integer> layers = steerings.stream().map(Steering::layer).distinct().toList();
                throw new BadVectorException("orthogonalize uses one direction for the whole model, but the vectors for "
                        + "layers " + layers + " point different ways; choose one with --layers L");
            }
        }
        return Arrays.copyOf(first, first.length);
    }

    /** Compiles and writes a complete model directory to {@code outDir} (atomically; see {@link ModelDirectoryWriter}). */
    public static Result compileTo(ModelFiles source, List<Steering> steerings, Mode mode, Path outDir) {
        return compileTo(source, sites -> steerings, mode, SteerOptions.ADD, outDir);
    }

    public static Result compileTo(ModelFiles source, Plan plan, Mode mode, Path outDir) {
        return compileTo(source, plan, mode, SteerOptions.ADD, outDir);
    }

    public static Result compileTo(ModelFiles source, List<Steering> steerings, Mode mode, SteerOptions options,
            Path outDir) {
        return compileTo(source, sites -> steerings, mode, options, outDir);
    }

    /**
     * Compiles, type-checks, writes to a staging directory, has the installed runtime load the staged
     * model ({@link LoadCheck#installed}), and only then renames it to {@code outDir}; any failure
     * leaves neither the output nor the staging directory behind.
     */
    public static Result compileTo(ModelFiles source, Plan plan, Mode mode, SteerOptions options, Path outDir) {
        return compileTo(source, plan, mode, options, OutputTarget.refuseExisting(outDir));
    }

    /** Compiles and writes the model directory, checked by the installed runtime's {@link LoadCheck}. */
    public static Result compileTo(ModelFiles source, Plan plan, Mode mode, SteerOptions options, OutputTarget target) {
        return compileTo(source, plan, mode, options, target, LoadCheck.installed(), List.of());
    }

    /**
     * As {@link #compileTo(ModelFiles, Plan, Mode, SteerOptions, OutputTarget)} with an explicit load check and
     * extra rewrites; the target is checked before any work is done.
     */
    public static Result compileTo(ModelFiles source, Plan plan, Mode mode, SteerOptions options, OutputTarget target,
            LoadCheck loadCheck, List<Pass> extraRewrites) {
        OutputTarget checked = ModelDirectoryWriter.checkTarget(source, target);
        Result result = compile(source, plan, mode, options, extraRewrites);
        GenaiConfig.Update genai = ModelDirectoryWriter.write(result.model(), source, checked, loadCheck);
        return new Result(result.model(), result.applied(), result.sites(), result.rewritten(), genai.notes());
    }
}
