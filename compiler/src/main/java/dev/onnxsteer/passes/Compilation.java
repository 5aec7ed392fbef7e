package dev.onnxsteer.passes;

import dev.onnxsteer.io.ModelDirectoryWriter;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteMap;
import java.nio.file.Path;
import java.util.List;

/** Steering compilation from a source model: read, find sites, rewrite, record provenance. */
public final class Compilation {
    /** A compiled model in memory, what was done to it, and the sites it was done at. */
    public record Result(Model model, List<SteerPass.Applied> applied, SiteMap sites) {}

    /** Chooses the steering once the model's sites are known (so layer choices can be checked against them). */
    @FunctionalInterface
    public interface Plan {
        List<Steering> steeringFor(SiteMap sites);
    }

    private Compilation() {}

    /** Compiles in memory; the source files are only read. */
    public static Result compile(ModelFiles source, List<Steering> steerings, Mode mode) {
        return compile(source, sites -> steerings, mode);
    }

    /** Compiles in memory with steering chosen from the discovered sites. */
    public static Result compile(ModelFiles source, Plan plan, Mode mode) {
        return compile(source, plan, mode, false);
    }

    /**
     * Compiles in memory; {@code createBias} lets bias mode at attn_in/mlp_in give bias-less
     * projections a bias (see {@link SteerPass#creatingBiases}).
     */
    public static Result compile(ModelFiles source, Plan plan, Mode mode, boolean createBias) {
        Model model = ModelReader.read(source.onnx());
        SiteMap sites = SiteFinder.find(model);
        SteerPass pass = new SteerPass(sites, plan.steeringFor(sites), mode).creatingBiases(createBias);
        pass.apply(model);
        Provenance.record(model, pass.applied(), Provenance.sha256(source.onnx()));
        return new Result(model, pass.applied(), sites);
    }

    /** Compiles and writes a complete model directory to {@code outDir} (atomically; see {@link ModelDirectoryWriter}). */
    public static Result compileTo(ModelFiles source, List<Steering> steerings, Mode mode, Path outDir) {
        return compileTo(source, sites -> steerings, mode, outDir);
    }

    public static Result compileTo(ModelFiles source, Plan plan, Mode mode, Path outDir) {
        return compileTo(source, plan, mode, false, outDir);
    }

    public static Result compileTo(ModelFiles source, Plan plan, Mode mode, boolean createBias, Path outDir) {
        ModelDirectoryWriter.checkTarget(source, outDir);
        Result result = compile(source, plan, mode, createBias);
        ModelDirectoryWriter.write(result.model(), source, outDir);
        return result;
    }
}
