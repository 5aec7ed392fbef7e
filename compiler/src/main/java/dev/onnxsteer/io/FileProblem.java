package dev.onnxsteer.io;

/**
 * The one wording for a bad input file, {@code FILE: WHAT (expected X, found Y)}, and the escaping that
 * keeps a corrupted file's bytes out of a terminal: every value taken from a file goes through
 * {@link #printable}, so a message is one line of printable characters however the file was damaged.
 */
public final class FileProblem {
    /** Longest value quoted from a file; a corrupted length field can make a "name" megabytes long. */
    public static final int MAX_VALUE_CHARS = 60;
    /** Longest whole message, once every value in it is cut: a line a terminal shows without scrolling much. */
    public static final int MAX_MESSAGE_CHARS = 600;

    private FileProblem() {}

    /** {@code FILE: WHAT (expected X, found Y)}; {@code found} is made printable and cut. */
    public static String message(Object file, String what, Object expected, Object found) {
        return file + ": " + what + " (expected " + expected + ", found " + printable(String.valueOf(found)) + ")";
    }

    /** {@code FILE: WHAT}, for problems where "expected" says nothing the reader does not know. */
    public static String message(Object file, String what) {
        return file + ": " + what;
    }

    /** {@code text} cut to {@link #MAX_VALUE_CHARS} with control, format and unpaired surrogate characters escaped. */
    public static String printable(String text) {
        return printable(text, MAX_VALUE_CHARS);
    }

    /** {@code text} cut to {@code max} characters (then "..."), with every character that is not printable escaped. */
    public static String printable(String text, int max) {
        if (text == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder();
        int shown = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (shown >= max) {
                out.append("... (").append(text.length()).append(" chars)");
                break;
            }
            if (isPrintable(cp)) {
                out.appendCodePoint(cp);
            } else if (cp <= 0xff) {
                out.append(String.format("\\x%02x", cp));
            } else {
                out.append(String.format("\\u%04x", cp));
            }
            shown++;
        }
        return out.toString();
    }

    private static boolean isPrintable(int cp) {
        if (cp == '\uFFFD') {
            return false; // what a decoder leaves of invalid UTF-8: show it as an escape, not a box
        }
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                    Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> false;
            default -> true;
        };
    }
}
