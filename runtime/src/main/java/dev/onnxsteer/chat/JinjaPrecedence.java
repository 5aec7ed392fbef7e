package dev.onnxsteer.chat;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Jinja2 binds {@code is} tighter than {@code not}: {@code not x is defined} means {@code not (x is
 * defined)}. jinjava reads it as {@code (not x) is defined}, which is always true, so Llama 3.1's
 * {@code {%- if not date_string is defined %}} would overwrite a caller's date. This rewrites
 * {@code not NAME is [not] TEST} inside tags and expressions into the parenthesised form;
 * literal text is left alone.
 */
final class JinjaPrecedence {
    private static final Pattern TAG = Pattern.compile("\\{[%{].*?[%}]\\}", Pattern.DOTALL);
    private static final Pattern NOT_IS = Pattern.compile(
            "\\bnot\\s+([A-Za-z_][\\w.]*(?:\\[[^\\]]*\\])*)\\s+is\\s+((?:not\\s+)?[A-Za-z_]\\w*)");

    private JinjaPrecedence() {}

    static String rewrite(String source) {
        Matcher tags = TAG.matcher(source);
        StringBuilder out = new StringBuilder();
        while (tags.find()) {
            String fixed = NOT_IS.matcher(tags.group()).replaceAll("not ($1 is $2)");
            tags.appendReplacement(out, Matcher.quoteReplacement(fixed));
        }
        tags.appendTail(out);
        return out.toString();
    }
}
