package dev.onnxsteer.cli.docs;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Whether a command's output is what the page shows. Lines are compared without trailing
 * whitespace and without trailing blank lines; a line that is exactly {@code ...} stands for any
 * number of lines (none included), and {@code [...]} inside a line for any text within that line
 * (a timing, an id, a timestamp). Nothing else is masked, so everything a page shows is checked.
 */
final class OutputMatch {
    static final String ANY_LINES = "...";
    static final String ANY_TEXT = "[...]";

    private OutputMatch() {}

    static boolean matches(List<String> expected, List<String> actual) {
        List<String> want = trimmed(expected);
        List<String> got = trimmed(actual);
        // matchedFrom[i][j]: want[i..] matches got[j..]; filled from the end
        boolean[][] matchedFrom = new boolean[want.size() + 1][got.size() + 1];
        matchedFrom[want.size()][got.size()] = true;
        for (int i = want.size() - 1; i >= 0; i--) {
            String line = want.get(i);
            for (int j = got.size(); j >= 0; j--) {
                if (line.equals(ANY_LINES)) {
                    matchedFrom[i][j] = matchedFrom[i + 1][j] || (j < got.size() && matchedFrom[i][j + 1]);
                } else {
                    matchedFrom[i][j] = j < got.size() && lineMatches(line, got.get(j)) && matchedFrom[i + 1][j + 1];
                }
            }
        }
        return matchedFrom[0][0];
    }

    static boolean lineMatches(String expected, String actual) {
        if (!expected.contains(ANY_TEXT)) {
            return expected.equals(actual);
        }
        StringBuilder regex = new StringBuilder();
        String[] parts = expected.split(Pattern.quote(ANY_TEXT), -1);
        for (int i = 0; i < parts.length; i++) {
            regex.append(Pattern.quote(parts[i]));
            if (i + 1 < parts.length) {
                regex.append(".*");
            }
        }
        return Pattern.compile(regex.toString(), Pattern.DOTALL).matcher(actual).matches();
    }

    /** Trailing whitespace off every line, trailing blank lines off the end. */
    static List<String> trimmed(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String line : lines) {
            out.add(line.stripTrailing());
        }
        while (!out.isEmpty() && out.get(out.size() - 1).isEmpty()) {
            out.remove(out.size() - 1);
        }
        return out;
    }
}
