package dev.onnxsteer.sites;

import dev.onnxsteer.ir.Graph;
import java.util.List;

/** The blocks {@link ResidualWalk} found in one graph (the main graph, or one If branch). */
record Chain(Graph graph, String layout, long hidden, List<Block> blocks, boolean postNorm) {}
