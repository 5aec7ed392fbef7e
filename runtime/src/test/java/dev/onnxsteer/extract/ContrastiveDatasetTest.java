package dev.onnxsteer.extract;

import dev.onnxsteer.BadInputException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxsteer.TestPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ContrastiveDatasetTest {
    @TempDir
    Path tmp;

    Path file(String text) throws Exception {
        Path path = tmp.resolve("pairs.jsonl");
        Files.writeString(path, text);
        return path;
    }

    static List<ContrastivePair> all(ContrastiveDataset data) {
        List<ContrastivePair> pairs = new ArrayList<>();
        data.forEach(pairs::add);
        return pairs;
    }

    @Test
    void readsPairsSkippingBlankLinesAndApplyingThePrompt() throws Exception {
        ContrastiveDataset data = ContrastiveDataset.read(file("""
                {"positive": "happy", "negative": "sad"}

                {"prompt": "I feel ", "positive": "glad", "negative": "gloomy", "note": "ignored"}
                   \n"""));
        assertEquals(2, data.size());
        List<ContrastivePair> pairs = all(data);
        assertEquals("I feel glad", pairs.get(1).positive());
        assertEquals("I feel gloomy", pairs.get(1).negative());
        assertEquals(tmp.resolve("pairs.jsonl") + " line 3", pairs.get(1).origin());
        BitSet second = new BitSet();
        second.set(1);
        assertEquals(List.of(pairs.get(1)), all(data.subset(second)));
    }

    @Test
    void theProjectDatasetHasFiftyPairs() {
        ContrastiveDataset data = ContrastiveDataset.read(TestPaths.testdata().resolve("happy-sad.jsonl"));
        assertEquals(50, data.size());
    }

    @Test
    void badFilesAreReportedByLine() throws Exception {
        String[][] cases = {
                {"{\"positive\": \"a\", \"negative\": \"b\"}\n{\"positive\": \"a\", \"negative\": \n", "pairs.jsonl line 2: not valid JSON at line 1 column"},
                {"\n\n{\"positive\": \"a\"}\n", "pairs.jsonl line 3: has no \"negative\" field (expected a string, found nothing)"},
                {"{\"positive\": \"\", \"negative\": \"b\"}\n", "pairs.jsonl line 1: the positive side is empty"},
                {"{\"positive\": \"a\", \"negative\": 3}\n", "pairs.jsonl line 1: \"negative\" is not a string (expected a string, found number)"},
                {"[1, 2]\n", "pairs.jsonl line 1: is not a JSON object"},
                {"\n  \n", "has no pairs"},
                {"", "has no pairs"},
                {"{\"positive\": \"same\", \"negative\": \"same\"}\n", "pairs.jsonl line 1: the positive and negative sides are identical"},
                {"{\"positive\": \"a\", \"negative\": \"b\", \"negative\": \"c\"}\n", "Duplicate field 'negative'"},
        };
        for (String[] c : cases) {
            Path path = file(c[0]);
            BadInputException e = assertThrows(BadInputException.class, () -> ContrastiveDataset.read(path));
            assertTrue(e.getMessage().contains(c[1]), "expected '" + c[1] + "' in: " + e.getMessage());
            assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
        }
        BadInputException missing = assertThrows(BadInputException.class,
                () -> ContrastiveDataset.read(tmp.resolve("none.jsonl")));
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
    }
}
