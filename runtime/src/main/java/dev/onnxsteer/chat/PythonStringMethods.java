package dev.onnxsteer.chat;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's {@code str} methods that chat templates call ({@code message.content.strip()},
 * {@code .split('</think>')}, {@code .startswith(...)}), which jinjava would otherwise look up as
 * Java methods ({@code lstrip} does not exist in Java; {@code split} takes a regex there). Placed
 * before jinjava's own resolver; any other call falls through to it.
 */
final class PythonStringMethods extends ELResolver {
    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof CharSequence sequence) || method == null) {
            return null;
        }
        String s = sequence.toString();
        Object[] args = params == null ? new Object[0] : params;
        Object result = call(s, method.toString(), args);
        if (result != NOT_HANDLED) {
            context.setPropertyResolved(true);
            return result;
        }
        return null;
    }

    private static final Object NOT_HANDLED = new Object();

    private static Object call(String s, String name, Object[] args) {
        return switch (name) {
            case "strip" -> args.length == 0 ? s.strip() : stripChars(s, text(args[0]), true, true);
            case "lstrip" -> args.length == 0 ? s.stripLeading() : stripChars(s, text(args[0]), true, false);
            case "rstrip" -> args.length == 0 ? s.stripTrailing() : stripChars(s, text(args[0]), false, true);
            case "split" -> args.length == 0 ? splitWhitespace(s) : split(s, text(args[0]),
                    args.length > 1 ? ((Number) args[1]).intValue() : -1);
            case "startswith" -> s.startsWith(text(args[0]));
            case "endswith" -> s.endsWith(text(args[0]));
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "replace" -> s.replace(text(args[0]), text(args[1]));
            case "find" -> s.indexOf(text(args[0]));
            case "count" -> count(s, text(args[0]));
            default -> NOT_HANDLED;
        };
    }

    private static String text(Object o) {
        return String.valueOf(o);
    }

    private static String stripChars(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && chars.indexOf(s.charAt(start)) >= 0) {
            start++;
        }
        while (right && end > start && chars.indexOf(s.charAt(end - 1)) >= 0) {
            end--;
        }
        return s.substring(start, end);
    }

    /** {@code str.split(sep, maxsplit)}: a literal separator, every piece kept (empty ones too). */
    private static List<String> split(String s, String sep, int maxSplit) {
        List<String> parts = new ArrayList<>();
        int from = 0;
        int at;
        while ((maxSplit < 0 || parts.size() < maxSplit) && (at = s.indexOf(sep, from)) >= 0) {
            parts.add(s.substring(from, at));
            from = at + sep.length();
        }
        parts.add(s.substring(from));
        return parts;
    }

    /** {@code str.split()}: runs of whitespace separate, no empty pieces. */
    private static List<String> splitWhitespace(String s) {
        List<String> parts = new ArrayList<>();
        for (String p : s.strip().split("\\s+")) {
            if (!p.isEmpty()) {
                parts.add(p);
            }
        }
        return parts;
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1;
        }
        int n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // never resolves a write
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
