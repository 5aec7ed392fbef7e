package dev.onnxsteer.steer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.onnxsteer.fixtures.Fixtures;
import dev.onnxsteer.generate.Generation;
import dev.onnxsteer.generate.GenerationConfig;
import dev.onnxsteer.generate.Generator;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.io.ModelWriter;
import dev.onnxsteer.ir.DataType;
import dev.onnxsteer.ir.ElementTypes;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.ir.Node;
import dev.onnxsteer.ir.Value;
import dev.onnxsteer.parity.Forward;
import dev.onnxsteer.parity.ParityCheck;
import dev.onnxsteer.parity.ParityHarness;
import dev.onnxsteer.parity.ParityReport;
import dev.onnxsteer.passes.Compilation;
import dev.onnxsteer.passes.Mode;
import dev.onnxsteer.passes.OrthogonalizePass;
import dev.onnxsteer.passes.Positions;
import dev.onnxsteer.passes.SteerOp;
import dev.onnxsteer.passes.SteerOptions;
import dev.onnxsteer.passes.SteerPass;
import dev.onnxsteer.passes.Steering;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.Ort;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.steer.OperationsTest.Case;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * float16 and bfloat16 Llama decoders (the generated {@code llama-tiny-fp16}, RMSNorm statistics in
 * float32 between Casts, and {@code llama-tiny-bf16}): every mode and operation compiles to a model whose
 * added nodes carry the site's type and that ONNX Runtime loads; steered float16 generation equals a
 * steered model written by the fixture generator itself, without the compiler.
 */
class HalfPrecisionTest {
    /** What ONNX Runtime 1.27's CPU provider says for the bf16 decoder (it has no bf16 Where kernel). */
    static final String BF16_CPU_REFUSAL = "Could not find an implementation for Where(16) node with name '/model/Where'";

    @TempDir
    Path temp;

    /** Every mode and op (OperationsTest's cases, coefficient 3), each with the site kind it steers at layer 1. */
    static List<Arguments> cases() {
        SteerOptions add = SteerOptions.ADD;
        List<Arguments> cases = new ArrayList<>();
        for (Case c : List.of(
                new Case("add", add, Mode.ADD, 3f),
                new Case("input", add, Mode.INPUT, 3f),
                new Case("bank", add.withBank(true), Mode.INPUT, 3f),
                new Case("positions prompt", add.withPositions(Positions.parse("prompt")), Mode.ADD, 3f),
                new Case("positions from:2 input", add.withPositions(Positions.from(2)), Mode.INPUT, 3f),
                new Case("ablate", SteerOptions.of(SteerOp.ABLATE), Mode.ADD, 3f),
                new Case("ablate input", SteerOptions.of(SteerOp.ABLATE), Mode.INPUT, 3f),
                new Case("ablate-add", SteerOptions.of(SteerOp.ABLATE_ADD), Mode.ADD, 3f),
                new Case("clamp", SteerOptions.of(SteerOp.CLAMP), Mode.ADD, 3f),
                new Case("clamp input", SteerOptions.of(SteerOp.CLAMP), Mode.INPUT, 3f),
                new Case("preserve-norm", add.withPreserveNorm(true), Mode.ADD, 3f),
                new Case("orthogonalize", SteerOptions.of(SteerOp.ORTHOGONALIZE), Mode.ADD, 3f))) {
            cases.add(Arguments.of(c, SiteKind.RESID_POST));
        }
        for (SiteKind input : List.of(SiteKind.ATTN_IN, SiteKind.MLP_IN)) {
            cases.add(Arguments.of(new Case("bias create-bias", add.withCreateBias(true), Mode.BIAS, 3f), input));
        }
        return cases;
    }

    static Stream<Arguments> everyCaseInBothTypes() {
        List<Arguments> args = new ArrayList<>();
        for (String fixture : List.of(Fixtures.LLAMA_TINY_FP16, Fixtures.LLAMA_TINY_BF16)) {
            for (Arguments c : cases()) {
                args.add(Arguments.of(fixture, c.get()[0], c.get()[1]));
            }
        }
        return args.stream();
    }

    static float[] randomVector(long seed) {
        return OperationsTest.randomVector(Fixtures.LLAMA_HIDDEN, seed);
    }

    static DataType typeOf(String fixture) {
        return fixture.equals(Fixtures.LLAMA_TINY_FP16) ? DataType.FLOAT16 : DataType.BFLOAT16;
    }

    @ParameterizedTest(name = "{0}: {1} at {2}")
    @MethodSource("everyCaseInBothTypes")
    void everyOperationWritesAModelOfTheSiteTypeThatOnnxRuntimeLoads(String fixture, Case c, SiteKind kind)
            throws Exception {
        ModelFiles source = ModelFiles.locate(Fixtures.dir(fixture), null);
        DataType type = typeOf(fixture);
        Path out = temp.resolve("steered");
        Compilation.Result result = Compilation.compileTo(source,
                List.of(new Steering(kind, 1, randomVector(1), c.coefficient())), c.mode(), c.options(), out);
        Model compiled = ModelReader.read(out.resolve(ModelFiles.MODEL_FILE));
        ElementTypes types = new ElementTypes();
        if (c.options().op() == SteerOp.ORTHOGONALIZE) {
            assertTrue(result.rewritten().size() > 0);
            for (OrthogonalizePass.Rewritten r : result.rewritten()) {
                assertEquals(type, compiled.graph().find(r.tensor()).orElseThrow().initializer().type(), r.toString());
            }
        } else if (c.mode() == Mode.BIAS) {
            SteerPass.Applied applied = result.applied().get(0);
            for (String bias : applied.tensor().split(",")) {
                Value created = compiled.graph().find(bias).orElseThrow();
                assertEquals(type, created.initializer().type(), bias);
                Node add = created.uses().get(0).node();
                assertEquals(type, types.of(add.output(0)).orElseThrow(), add.name());
            }
        } else {
            // resid_post.1 is read by layer 2's residual Add: it now reads the rewrite's result, of the site's type
            Node residualAdd = compiled.graph().nodes().stream().filter(n -> n.name().equals("/model/layers.2/Add"))
                    .findFirst().orElseThrow();
            Value steered = residualAdd.input(0);
            assertTrue(steered.producer().name().startsWith("/onnx_steer/resid_post.1/"), steered.producer().name());
            assertEquals(type, types.of(steered).orElseThrow());
            for (Node node : compiled.graph().nodes()) {
                for (Value in : node.inputs()) {
                    if (in != null && in.isInitializer() && in.name().startsWith("onnx_steer.resid_post.1.")) {
                        assertEquals(type, in.initializer().type(), in.name());
                    }
                }
            }
        }
        String refusal = cpuRefusal(out.resolve(ModelFiles.MODEL_FILE));
        if (type == DataType.FLOAT16) {
            assertEquals(null, refusal, "ONNX Runtime loads the fp16 model on CPU");
        } else {
            // ONNX Runtime's load-time checks (checker, type inference) pass; only the CPU kernel is missing,
            // exactly as for the uncompiled bf16 decoder
            assertNotNull(refusal);
            assertTrue(refusal.contains(BF16_CPU_REFUSAL), refusal);
            assertEquals(cpuRefusal(source.onnx()), refusal.replace(out.resolve(ModelFiles.MODEL_FILE).toString(),
                    source.onnx().toString()));
        }
    }

    /** fp16: every case passes the parity harness (the independent cut check at fp16 tolerance, KV cache = recompute). */
    @ParameterizedTest(name = "{0} at {1}")
    @MethodSource("cases")
    void everyOperationPassesParityOnFloat16(Case c, SiteKind kind) {
        ModelFiles source = ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY_FP16), null);
        Path out = temp.resolve("steered");
        Compilation.compileTo(source, List.of(new Steering(kind, 1, randomVector(1), c.coefficient())), c.mode(), c.options(), out);
        ParityReport report = new ParityHarness(source, out.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu(), 6)
                .run(List.of(new long[] {5, 17, 30, 42, 7, 9}, new long[] {99, 1, 2}));
        for (ParityCheck check : report.checks()) {
            assertNotEquals(ParityCheck.Status.FAILED, check.status(), report.toString());
        }
        assertEquals(ParityCheck.Status.PASSED, report.checks().stream().filter(x -> x.name().equals("independent"))
                .findFirst().orElseThrow().status(), report.toString());
    }

    /** Null when ONNX Runtime opens a CPU session (optimisations off), else its message. */
    static String cpuRefusal(Path model) {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            try (OrtSession session = Ort.env().createSession(model.toString(), options)) {
                return null;
            }
        } catch (OrtException e) {
            return e.getMessage();
        }
    }

    @Test
    void steeredFp16GenerationEqualsTheSteeredModelTheFixtureGeneratorWrites() throws Exception {
        float coefficient = 4f;
        float[] v = randomVector(21);
        float[] cv = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            cv[i] = (float) ((double) coefficient * v[i]);
        }
        ModelFiles source = ModelFiles.locate(Fixtures.dir(Fixtures.LLAMA_TINY_FP16), null);
        Path compiled = temp.resolve("compiled");
        Compilation.compileTo(source, List.of(new Steering(SiteKind.RESID_POST, 1, v, coefficient)), Mode.ADD,
                SteerOptions.ADD, compiled);
        Path handBuilt = temp.resolve("hand-built");
        Files.createDirectories(handBuilt);
        ModelWriter.write(Fixtures.llamaHalf(DataType.FLOAT16, Map.of(1, cv)), handBuilt.resolve(ModelFiles.MODEL_FILE));

        long[] prompt = {Fixtures.BOS_ID, 'O', 'n', 'c', 'e'};
        Greedy reference = greedy(handBuilt.resolve(ModelFiles.MODEL_FILE), prompt, 12);
        Greedy steered = greedy(compiled.resolve(ModelFiles.MODEL_FILE), prompt, 12);
        Greedy plain = greedy(source.onnx(), prompt, 12);
        assertTrue(reference.minMargin() > 0.05, "the reference's greedy path has a clear top-2 margin: "
                + reference.minMargin());
        assertEquals(Arrays.toString(reference.tokens()), Arrays.toString(steered.tokens()));
        assertTrue(steered.maxLogitDiff(reference) < 0.02, "logits agree to fp16 rounding: " + steered.maxLogitDiff(reference));
        assertNotEquals(Arrays.toString(plain.tokens()), Arrays.toString(steered.tokens()), "the steering changes the text");

        // KV-cached generation (float16 past and present) gives the recomputed tokens
        ModelConfig config = ModelConfig.load(compiled);
        try (ModelSession session = SessionFactory.open(compiled.resolve(ModelFiles.MODEL_FILE), SessionConfig.cpu());
                Tokenizer tokenizer = Tokenizer.load(compiled.resolve(ModelFiles.TOKENIZER_FILE), config)) {
            Generator generator = Generator.create(session, tokenizer, config);
            GenerationConfig greedy = GenerationConfig.greedy(12).withEosTokenIds(List.of(-1L));
            Generation cached = generator.generateIds(List.of(prompt), greedy, dev.onnxsteer.generate.ExtraInputs.NONE,
                    dev.onnxsteer.generate.TokenListener.NONE).get(0);
            assertEquals(Arrays.toString(steered.tokens()), cached.tokenIds().toString());
        }
    }

    /** Greedy continuation by full recompute, with the top-2 margin and last logits of every step. */
    record Greedy(long[] tokens, double minMargin, List<float[]> logits) {
        double maxLogitDiff(Greedy other) {
            double max = 0;
            for (int s = 0; s < logits.size(); s++) {
                for (int i = 0; i < logits.get(s).length; i++) {
                    max = Math.max(max, Math.abs(logits.get(s)[i] - other.logits.get(s)[i]));
                }
            }
            return max;
        }
    }

    static Greedy greedy(Path model, long[] prompt, int steps) {
        long[] tokens = prompt.clone();
        long[] generated = new long[steps];
        double minMargin = Double.MAX_VALUE;
        List<float[]> logits = new ArrayList<>();
        try (ModelSession session = SessionFactory.open(model, SessionConfig.cpu())) {
            for (int s = 0; s < steps; s++) {
                Forward.Output out = Forward.run(session, tokens, Map.of(), List.of("logits")).get("logits");
                int vocab = (int) out.shape()[2];
                float[] last = Arrays.copyOfRange(out.values(), (tokens.length - 1) * vocab, tokens.length * vocab);
                int best = 0;
                for (int i = 1; i < vocab; i++) {
                    if (last[i] > last[best]) {
                        best = i;
                    }
                }
                float second = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < vocab; i++) {
                    if (i != best) {
                        second = Math.max(second, last[i]);
                    }
                }
                minMargin = Math.min(minMargin, last[best] - second);
                logits.add(last);
                generated[s] = best;
                tokens = Arrays.copyOf(tokens, tokens.length + 1);
                tokens[tokens.length - 1] = best;
            }
        }
        return new Greedy(generated, minMargin, logits);
    }
}
