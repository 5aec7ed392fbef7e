package dev.onnxsteer.server;

import dev.onnxsteer.BadVectorException;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.VectorMath;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;

/**
 * One request's steering as what its row of a batch is fed, by site name: the vector to add
 * ({@code sum(coefficient * v)} of its add entries, plus {@code value * r} for a clamp) and the
 * direction to ablate first (ablate and clamp entries; at most one per site). Each entry's per-site
 * steering comes from the library's plan ({@link SteeringTerm#plan}); this class checks it against
 * what the served model can do.
 */
final class RowPlan {
    private final Map<String, float[]> addends = new HashMap<>();
    private final Map<String, float[]> directions = new HashMap<>();
    private final List<Steering> perSite = new ArrayList<>();

    private RowPlan() {}

    /**
     * @param steerable  the sites the served model takes steering at
     * @param directions whether those sites also have the ablate/clamp stage
     * @throws IllegalArgumentException naming the problem (an unknown vector with the known names, a
     *                                  range that leaves nothing or reaches an unsteered layer, ...)
     */
    static RowPlan of(BoundSteering steering, SiteMap sites, Map<SiteKind, SortedSet<Integer>> steerable,
            boolean directions) {
        RowPlan row = new RowPlan();
        Map<String, String> directionOf = new HashMap<>();
        for (SteeringTerm term : steering.terms()) {
            VectorRegistry.Entry entry = steering.vectors().find(term.vector()).orElseThrow(() ->
                    new IllegalArgumentException("unknown vector '" + term.vector() + "'; known vectors: "
                            + steering.vectors().names()));
            if (term.usesDirection() && !directions) {
                throw new IllegalArgumentException("steering op " + term.op().label() + " is not available on this"
                        + " server: start serve with --allow-ablate-clamp, or compile the model with --op "
                        + term.op().label() + " and serve that");
            }
            List<Steering> planned;
            try {
                planned = term.plan(entry).steeringFor(sites);
            } catch (BadVectorException e) {
                throw new IllegalArgumentException(e.getMessage(), e);
            }
            for (Steering s : planned) {
                SortedSet<Integer> steered = steerable.getOrDefault(s.kind(), Collections.emptySortedSet());
                if (!steered.contains(s.layer())) {
                    throw new IllegalArgumentException((term.hasRange() ? term.layers().label() + " of " + term.vector()
                            : term.vector() + " at layer " + s.layer()) + ": this server steers " + s.kind().label()
                            + " only at layers " + steered);
                }
                if (term.usesDirection()) {
                    String previous = directionOf.putIfAbsent(s.siteName(), term.vector());
                    if (previous != null) {
                        throw new IllegalArgumentException("ablate and clamp take one direction per site, but "
                                + s.siteName() + " gets two (" + previous + " and " + term.vector() + ")");
                    }
                    if (VectorMath.norm(s.vector()) == 0) {
                        throw new IllegalArgumentException(term.vector() + " is all zeros at " + s.siteName() + "; "
                                + term.op().label() + " needs a direction");
                    }
                }
                row.add(term.op(), s);
            }
        }
        return row;
    }

    private void add(SteerOp op, Steering s) {
        perSite.add(s);
        float[] v = s.vector();
        if (op != SteerOp.ADD) {
            directions.put(s.siteName(), v);
        }
        if (op == SteerOp.ABLATE) {
            return;
        }
        // add: c * v; clamp: ablated above, then value * r, so the projection on r becomes the value
        float[] term = op == SteerOp.CLAMP ? VectorMath.unit(v) : v;
        float[] sum = addends.computeIfAbsent(s.siteName(), k -> new float[v.length]);
        for (int i = 0; i < v.length; i++) {
            sum[i] += s.coefficient() * term[i];
        }
    }

    /** What to add at {@code site} (kind.layer), or null. */
    float[] addend(String site) {
        return addends.get(site);
    }

    /** The direction to ablate at {@code site}, or null. */
    float[] direction(String site) {
        return directions.get(site);
    }

    /** The plan's per-site steering of every entry, in entry order. */
    List<Steering> perSite() {
        return List.copyOf(perSite);
    }
}
