package dev.onnxsteer.plan;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.sites.SiteNames;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What to steer with, turned into per-site {@link Steering} once the model's sites are known: the one
 * place the rules below live, used by {@code compile} and {@code generate} (their steering options),
 * {@code serve} (one plan per {@code steering} entry of a request) and the Java API alike (a plan is a
 * {@link Compilation.Plan}: {@code Compilation.compile(files, plan, mode, options)}).
 *
 * <p>Why a package of its own: it reads vector files ({@code vectors}), names sites ({@code sites}) and
 * produces the passes' {@link Steering}; {@code vectors} stays a file-format package below all three.
 *
 * <ul>
 *   <li><b>Site.</b> {@code site} when given (a site name such as {@code resid_post}, a
 *       TransformerLens hook or a module path), else each file's own site from its metadata: files
 *       made for different sites each steer their own.</li>
 *   <li><b>Layers.</b> Without a {@link LayerChoice} every file steers the layers it has. With one,
 *       a file steers the chosen layers it has, and a file of exactly one layer steers every chosen
 *       layer with that vector (llama.cpp's {@code --control-vector-layer-range}); a choice that
 *       leaves nothing of a file is refused, naming the file's layers. A site name with a layer
 *       ({@code resid_post.2}) is a choice of that layer; an explicit choice must then agree.</li>
 *   <li><b>Coefficients.</b> A file's own coefficient times the plan's {@code coefficient}
 *       (default 1). With one file each site gets the file's vector with coefficient
 *       {@code own * coefficient}; with several, each site gets {@code sum(own_i * v_i)} over the
 *       files that steer it (float arithmetic, file order, as llama.cpp sums control vectors) with
 *       coefficient {@code coefficient}.</li>
 *   <li><b>Operations.</b> {@link SteerOp#CLAMP} takes {@code clampValue} as the coefficient (the
 *       value the projection is set to); own coefficients then only weight a sum of several files.
 *       Ablate and orthogonalize use only the direction.</li>
 *   <li><b>Bank.</b> Each file is one row ({@code own * v}) at every steered site, in file order,
 *       with coefficient {@code coefficient} (the default {@code steer_scale}); the site and layers
 *       are those of the first file (or the choice), and every file must have a vector at each of
 *       them (a one-layer file fits any layer).</li>
 * </ul>
 *
 * @param coefficient null for 1
 * @param layers      null for each file's own layers
 * @param site        null for each file's own site
 * @param clampValue  required with {@link SteerOp#CLAMP}, else null
 */
public record SteeringPlan(List<PlanVector> vectors, Float coefficient, LayerChoice layers, String site, SteerOp op,
        Float clampValue, boolean bank) implements Compilation.Plan {

    public SteeringPlan {
        vectors = List.copyOf(vectors);
        Objects.requireNonNull(op, "op");
        if (vectors.isEmpty()) {
            throw new IllegalArgumentException("a steering plan needs at least one vector file");
        }
        if ((op == SteerOp.CLAMP) != (clampValue != null)) {
            throw new IllegalArgumentException(op == SteerOp.CLAMP ? "clamp needs the value the projection is set to"
                    : "a clamp value only applies to clamp, not " + op.label());
        }
    }

    /** Add {@code vectors}, each times its own coefficient, at their own sites and layers. */
    public static SteeringPlan add(List<PlanVector> vectors) {
        return new SteeringPlan(vectors, null, null, null, SteerOp.ADD, null, false);
    }

    public SteeringPlan withLayers(LayerChoice choice) {
        return new SteeringPlan(vectors, coefficient, choice, site, op, clampValue, bank);
    }

    /** This plan with operation {@code value}; {@code clamp} is its value for {@link SteerOp#CLAMP}, else null. */
    public SteeringPlan withOp(SteerOp value, Float clamp) {
        return new SteeringPlan(vectors, coefficient, layers, site, value, clamp, bank);
    }

    /** Which site kind at which layers one file steers, and the choice that decides spreading. */
    private record Target(SiteKind kind, SortedSet<Integer> layers, LayerChoice choice) {}

    @Override
    public List<Steering> steeringFor(SiteMap sites) {
        return bank ? bankRows(sites) : summed(sites);
    }

    private float coefficientValue() {
        return coefficient == null ? 1f : coefficient;
    }

    private List<Steering> summed(SiteMap sites) {
        float strength = op == SteerOp.CLAMP ? clampValue : coefficientValue();
        boolean single = vectors.size() == 1;
        List<Steering> steerings = new ArrayList<>();
        Map<SiteKind, TreeMap<Integer, float[]>> sums = new LinkedHashMap<>();
        Map<String, String> firstAt = new TreeMap<>();
        for (PlanVector file : vectors) {
            Target target = target(sites, file);
            boolean any = false;
            for (int layer : target.layers()) {
                float[] v = file.at(layer, target.choice() != null);
                if (v == null) {
                    continue;
                }
                any = true;
                if (single) {
                    steerings.add(new Steering(target.kind(), layer, v,
                            op == SteerOp.CLAMP ? strength : file.coefficient() * strength));
                    continue;
                }
                String siteName = target.kind().label() + "." + layer;
                float[] sum = sums.computeIfAbsent(target.kind(), k -> new TreeMap<>())
                        .computeIfAbsent(layer, l -> new float[v.length]);
                String first = firstAt.putIfAbsent(siteName, file.name());
                if (sum.length != v.length) {
                    throw new BadVectorException("vector file " + first + " has hidden size " + sum.length + " but "
                            + file.name() + " has hidden size " + v.length + " (both steer " + siteName + ")");
                }
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += v[i] * file.coefficient();
                }
            }
            if (!any) {
                throw leavesNothing(target.choice(), file);
            }
        }
        sums.forEach((kind, byLayer) -> byLayer.forEach((layer, sum) -> steerings.add(new Steering(kind, layer, sum, strength))));
        return steerings;
    }

    private List<Steering> bankRows(SiteMap sites) {
        Target target = target(sites, vectors.get(0));
        List<Steering> steerings = new ArrayList<>();
        for (int layer : target.layers()) {
            for (PlanVector file : vectors) {
                float[] v = file.at(layer, true); // a bank row must exist at every site
                if (v == null) {
                    throw new BadVectorException("bank vector " + file.name() + " has no layer " + layer + "; it has layers "
                            + file.vectors().layerIndices() + " and every bank vector needs every steered layer");
                }
                float[] row = new float[v.length];
                for (int i = 0; i < row.length; i++) {
                    row[i] += v[i] * file.coefficient();
                }
                steerings.add(new Steering(target.kind(), layer, row, coefficientValue()));
            }
        }
        return steerings;
    }

    /**
     * The site from {@code site} (default: the file's) and the layers from the choice (default: the
     * file's), or the one layer the site names.
     */
    private Target target(SiteMap sites, PlanVector file) {
        SiteNames.SiteName name = SiteNames.parse(site != null ? site : file.vectors().metadata().site());
        if (!name.hasLayer()) {
            return new Target(name.kind(), layers != null ? layers.layers() : file.vectors().layerIndices(), layers);
        }
        // the site names its layer (blocks.2.hook_resid_post, transformer.h.2.mlp, resid_post.2)
        SiteNames.Resolved resolved = SiteNames.resolve(sites, name.text());
        SortedSet<Integer> named = new TreeSet<>(Set.of(resolved.layer()));
        if (layers != null && !layers.layers().equals(named)) {
            throw new IllegalArgumentException("site " + name.text() + " names layer " + resolved.layer() + " but "
                    + layers.source() + " says " + layers.text() + "; give the layer once");
        }
        return new Target(resolved.kind(), named, new LayerChoice(named, "site", name.text()));
    }

    private static BadVectorException leavesNothing(LayerChoice choice, PlanVector file) {
        String what = choice != null ? choice.label() : "its own layers";
        return new BadVectorException(what + " leave nothing of " + file.name() + ", which has layers "
                + file.vectors().layerIndices());
    }
}
