package dev.onnxsteer.extract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import dev.onnxsteer.capture.ActivationCapture;
import dev.onnxsteer.capture.Padding;
import dev.onnxsteer.capture.Position;
import dev.onnxsteer.generate.ModelConfig;
import dev.onnxsteer.generate.Tokenizer;
import dev.onnxsteer.importer.GgufImporter;
import dev.onnxsteer.importer.ImportFormat;
import dev.onnxsteer.importer.WeightFormat;
import dev.onnxsteer.io.ModelFiles;
import dev.onnxsteer.io.ModelReader;
import dev.onnxsteer.ir.Model;
import dev.onnxsteer.parity.Forward;
import dev.onnxsteer.passes.SiteCut;
import dev.onnxsteer.session.ModelSession;
import dev.onnxsteer.session.SessionConfig;
import dev.onnxsteer.session.SessionFactory;
import dev.onnxsteer.sites.SiteFinder;
import dev.onnxsteer.sites.SiteKind;
import dev.onnxsteer.sites.SiteMap;
import dev.onnxsteer.vectors.SteeringVectors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Extraction on the real stories260K (imported from its GGUF for this class). */
class ExtractorTest {
    @TempDir
    static Path tmp;

    static ModelFiles stories;
    static Tokenizer tokenizer;
    static final List<Integer> LAYERS = List.of(0, 1, 2, 3, 4);

    @BeforeAll
    static void importStories() {
        Path gguf = TestPaths.sharedModel("stories260K/stories260K.gguf");
        GgufImporter.importModel(gguf, tmp.resolve("stories"), WeightFormat.F32, ImportFormat.ONNX); // left padding: the standard layout
        stories = ModelFiles.locate(tmp.resolve("stories"), null);
        tokenizer = Tokenizer.load(stories.tokenizer(), ModelConfig.load(stories.directory()));
    }

    @AfterAll
    static void closeTokenizer() {
        if (tokenizer != null) {
            tokenizer.close();
        }
    }

    static ActivationCapture capture(SiteKind kind, Padding padding) {
        return ActivationCapture.open(stories, kind, LAYERS, padding, SessionConfig.cpu());
    }

    static SteeringVectors extract(ContrastiveDataset data, Method method, Position position, int batch, Padding padding) {
        try (ActivationCapture capture = capture(SiteKind.RESID_POST, padding)) {
            return extract(capture, data, method, position, batch);
        }
    }

    static SteeringVectors extract(ActivationCapture capture, ContrastiveDataset data, Method method, Position position,
            int batch) {
        return new Extractor(capture, tokenizer)
                .extract(data, new ExtractionOptions(method, position, false, batch), "hash", ExtractionProgress.NONE)
                .vectors();
    }

    static ContrastiveDataset happySad() {
        return ContrastiveDataset.read(TestPaths.testdata().resolve("happy-sad.jsonl"));
    }

    static ContrastiveDataset onePair(String positive, String negative) {
        return ContrastiveDataset.of(List.of(new ContrastivePair(positive, negative, "test")));
    }

    /** The site tensor read by an independent path: SiteCut on a fresh copy, then one parity Forward pass. */
    static Map<Integer, float[]> lastRowsReadDirectly(SiteKind kind, String text) {
        Model model = ModelReader.read(stories.onnx());
        SiteMap sites = SiteFinder.find(model);
        List<String> names = new ArrayList<>();
        for (int layer : LAYERS) {
            names.add(SiteCut.exposeAsOutput(model, sites.find(kind, layer).get(0).value()));
        }
        try (ModelSession session = SessionFactory.open(model, "exposed", SessionConfig.cpu())) {
            Map<String, Forward.Output> outputs = Forward.run(session, tokenizer.encode(text, true), Map.of(), names);
            Map<Integer, float[]> rows = new java.util.TreeMap<>();
            for (int i = 0; i < LAYERS.size(); i++) {
                Forward.Output output = outputs.get(names.get(i));
                rows.put(LAYERS.get(i), output.row(output.rows() - 1));
            }
            return rows;
        }
    }

    @Test
    void diffOfOnePairIsExactlyTheDifferenceOfTheSiteTensors() {
        String positive = "Lily was very happy. She smiled.";
        String negative = "Lily was sad.";
        for (SiteKind kind : new SiteKind[] {SiteKind.RESID_POST, SiteKind.MLP_OUT}) {
            Map<Integer, float[]> p = lastRowsReadDirectly(kind, positive);
            Map<Integer, float[]> n = lastRowsReadDirectly(kind, negative);
            SteeringVectors vectors;
            try (ActivationCapture capture = capture(kind, Padding.RIGHT)) {
                vectors = new Extractor(capture, tokenizer).extract(onePair(positive, negative),
                        new ExtractionOptions(Method.DIFF, Position.LAST, false, 1), null, ExtractionProgress.NONE).vectors();
            }
            assertEquals(kind.label(), vectors.metadata().site());
            for (int layer : LAYERS) {
                float[] expected = new float[p.get(layer).length];
                for (int i = 0; i < expected.length; i++) {
                    expected[i] = p.get(layer)[i] - n.get(layer)[i];
                }
                assertArrayEquals(expected, vectors.layer(layer), 0f, kind.label() + "." + layer);
            }
        }
    }

    @Test
    void meanOverTheDatasetIsTheMeanOfPerPairDiffs() {
        ContrastiveDataset data = happySad();
        SteeringVectors mean = extract(data, Method.MEAN, Position.LAST, 8, Padding.RIGHT);
        double[][] sum = new double[LAYERS.size()][64];
        List<ContrastivePair> pairs = new ArrayList<>();
        data.forEach(pairs::add);
        try (ActivationCapture capture = capture(SiteKind.RESID_POST, Padding.RIGHT)) {
            for (ContrastivePair pair : pairs) {
                SteeringVectors diff = extract(capture, onePair(pair.positive(), pair.negative()), Method.DIFF,
                        Position.LAST, 2);
                for (int layer : LAYERS) {
                    float[] v = diff.layer(layer);
                    for (int i = 0; i < v.length; i++) {
                        sum[layer][i] += v[i];
                    }
                }
            }
        }
        for (int layer : LAYERS) {
            float[] expected = new float[64];
            for (int i = 0; i < 64; i++) {
                expected[i] = (float) (sum[layer][i] / pairs.size());
            }
            assertArrayEquals(expected, mean.layer(layer), 1e-5f, "layer " + layer);
        }
        assertEquals("50", mean.metadata().extra().get("pairs"));
        assertEquals("mean", mean.metadata().method());
    }

    @Test
    void batchingAndPaddingDoNotChangeAnyVector() {
        ContrastiveDataset data = happySad();
        try (ActivationCapture right = capture(SiteKind.RESID_POST, Padding.RIGHT);
                ActivationCapture left = capture(SiteKind.RESID_POST, Padding.LEFT)) {
            for (Position position : Position.values()) {
                for (Method method : new Method[] {Method.MEAN, Method.PCA, Method.PCA_CENTER}) {
                    SteeringVectors one = extract(right, data, method, position, 1);
                    for (ActivationCapture padded : List.of(right, left)) {
                        SteeringVectors eight = extract(padded, data, method, position, 8);
                        for (int layer : LAYERS) {
                            assertArrayEquals(one.layer(layer), eight.layer(layer), 1e-5f, method.label() + " "
                                    + position.label() + " " + padded + " layer " + layer);
                        }
                    }
                }
            }
        }
    }

    @Test
    void pcaIsTheTopEigenvectorOfTheCentredPairDifferencesSignedTowardsThePositives() {
        // the independent computation: each prompt's last-token activation, the covariance of the pair differences
        // built here, its eigenvectors by Jacobi rotations (not power iteration), the sign from raw projections
        assertTopComponent(Method.PCA, 1e-3, (pos, neg) -> {
            double[][] diff = new double[pos.length][];
            for (int p = 0; p < pos.length; p++) {
                diff[p] = new double[pos[p].length];
                for (int i = 0; i < diff[p].length; i++) {
                    diff[p][i] = pos[p][i] - neg[p][i];
                }
            }
            return diff;
        });
    }

    @Test
    void pcaGlobalIsTheTopEigenvectorOfEveryActivationCentredOnTheirMean() {
        // CAST's condition vectors: positives and negatives together, one centre for all of them. On happy-sad
        // pairs the largest spread need not be the happy-sad one, so the sides may barely separate along it
        assertTopComponent(Method.PCA_GLOBAL, 1e-7, (pos, neg) -> {
            double[][] all = new double[2 * pos.length][];
            for (int p = 0; p < pos.length; p++) {
                all[2 * p] = pos[p];
                all[2 * p + 1] = neg[p];
            }
            return all;
        });
    }

    /** The rows whose centred covariance a PCA method takes the top eigenvector of, from each pair's two sides. */
    interface PcaRows {
        double[][] of(double[][] positives, double[][] negatives);
    }

    private void assertTopComponent(Method method, double separation, PcaRows rowsOf) {
        ContrastiveDataset data = happySad();
        SteeringVectors pca = extract(data, method, Position.LAST, 16, Padding.RIGHT);
        List<long[]> positives = new ArrayList<>();
        List<long[]> negatives = new ArrayList<>();
        data.forEach(pair -> {
            positives.add(tokenizer.encode(pair.positive(), true));
            negatives.add(tokenizer.encode(pair.negative(), true));
        });
        List<dev.onnxsteer.capture.PromptActivations> pos;
        List<dev.onnxsteer.capture.PromptActivations> neg;
        try (ActivationCapture capture = capture(SiteKind.RESID_POST, Padding.RIGHT)) {
            pos = capture.run(positives, Position.LAST);
            neg = capture.run(negatives, Position.LAST);
        }
        int n = positives.size();
        int d = 64;
        for (int index = 0; index < LAYERS.size(); index++) {
            double[][] p = new double[n][d];
            double[][] q = new double[n][d];
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < d; i++) {
                    p[r][i] = pos.get(r).at(index)[0][i];
                    q[r][i] = neg.get(r).at(index)[0][i];
                }
            }
            double[][] rows = rowsOf.of(p, q);
            double[] mean = new double[d];
            for (double[] row : rows) {
                for (int i = 0; i < d; i++) {
                    mean[i] += row[i] / rows.length;
                }
            }
            double[][] covariance = new double[d][d];
            for (double[] row : rows) {
                for (int i = 0; i < d; i++) {
                    for (int j = 0; j < d; j++) {
                        covariance[i][j] += (row[i] - mean[i]) * (row[j] - mean[j]) / rows.length;
                    }
                }
            }
            double[][] vectors = new double[d][d];
            double[] values = jacobiEigen(covariance, vectors);
            int top = 0;
            int second = -1;
            for (int k = 1; k < d; k++) {
                if (values[k] > values[top]) {
                    second = top;
                    top = k;
                } else if (second < 0 || values[k] > values[second]) {
                    second = k;
                }
            }
            assertTrue(values[top] > 1.2 * values[second], method + " layer " + index + ": the first component stands "
                    + "out (" + values[top] + " vs " + values[second] + "), so it is well defined");
            double[] u = new double[d];
            for (int i = 0; i < d; i++) {
                u[i] = vectors[i][top];
            }
            // repeng's sign rule, by hand: the positives' mean projection is above the negatives'
            double towards = 0;
            for (int r = 0; r < n; r++) {
                for (int i = 0; i < d; i++) {
                    towards += (p[r][i] - q[r][i]) * u[i] / n;
                }
            }
            assertTrue(Math.abs(towards) > separation, method + " layer " + index + ": the sides separate along the component");
            float[] expected = new float[d];
            for (int i = 0; i < d; i++) {
                expected[i] = (float) (towards > 0 ? u[i] : -u[i]);
            }
            assertArrayEquals(expected, pca.layer(LAYERS.get(index)), 1e-4f, method.label() + " vector of layer " + index);
        }
    }

    /** Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations; columns of {@code vectors} are unit eigenvectors. */
    static double[] jacobiEigen(double[][] symmetric, double[][] vectors) {
        int n = symmetric.length;
        double[][] a = new double[n][];
        for (int i = 0; i < n; i++) {
            a[i] = symmetric[i].clone();
            java.util.Arrays.fill(vectors[i], 0);
            vectors[i][i] = 1;
        }
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0;
            for (int i = 0; i < n; i++) {
                for (int j = i + 1; j < n; j++) {
                    off += a[i][j] * a[i][j];
                }
            }
            if (off < 1e-30) {
                break;
            }
            for (int p = 0; p < n; p++) {
                for (int q = p + 1; q < n; q++) {
                    if (Math.abs(a[p][q]) < 1e-300) {
                        continue;
                    }
                    double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) {
                        t = 1;
                    }
                    double c = 1 / Math.sqrt(t * t + 1);
                    double s = t * c;
                    for (int k = 0; k < n; k++) {
                        double akp = a[k][p];
                        double akq = a[k][q];
                        a[k][p] = c * akp - s * akq;
                        a[k][q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++) {
                        double apk = a[p][k];
                        double aqk = a[q][k];
                        a[p][k] = c * apk - s * aqk;
                        a[q][k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++) {
                        double vkp = vectors[k][p];
                        double vkq = vectors[k][q];
                        vectors[k][p] = c * vkp - s * vkq;
                        vectors[k][q] = s * vkp + c * vkq;
                    }
                }
            }
        }
        double[] values = new double[n];
        for (int i = 0; i < n; i++) {
            values[i] = a[i][i];
        }
        return values;
    }

    @Test
    void positionsReadTheRightTokens() {
        String text = "Once upon a time";
        int tokens = tokenizer.encode(text, true).length;
        try (ActivationCapture capture = capture(SiteKind.RESID_POST, Padding.LEFT)) {
            var runs = capture.run(List.of(tokenizer.encode(text, true), tokenizer.encode("Hi", true)), Position.ALL);
            assertEquals(tokens, runs.get(0).at(0).length);
            var last = capture.run(List.of(tokenizer.encode(text, true)), Position.LAST).get(0);
            assertArrayEquals(runs.get(0).at(4)[tokens - 1], last.at(4)[0], 1e-5f);
            var mean = capture.run(List.of(tokenizer.encode(text, true)), Position.MEAN).get(0);
            float[] expected = new float[64];
            for (float[] row : runs.get(0).at(2)) {
                for (int i = 0; i < 64; i++) {
                    expected[i] += row[i] / tokens;
                }
            }
            assertArrayEquals(expected, mean.at(2)[0], 1e-5f);
        }
    }

    @Test
    void badRequestsAreRefusedWithOneLine() {
        IllegalArgumentException diff = assertThrows(IllegalArgumentException.class,
                () -> extract(happySad(), Method.DIFF, Position.LAST, 4, Padding.RIGHT));
        assertTrue(diff.getMessage().contains("exactly one pair"), diff.getMessage());
        String longText = "Lily was happy. ".repeat(600);
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> extract(onePair(longText, "sad"), Method.DIFF, Position.LAST, 2, Padding.RIGHT));
        assertTrue(tooLong.getMessage().contains("the context of") && tooLong.getMessage().contains("2048 tokens"),
                tooLong.getMessage());
        assertFalse(tooLong.getMessage().contains("\n"));
        assertThrows(dev.onnxsteer.SiteNotFoundException.class, () -> ActivationCapture.open(stories, SiteKind.RESID_POST,
                List.of(5), Padding.RIGHT, SessionConfig.cpu()));
    }
}
