package dev.onnxsteer.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.time.LocalDateTime;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELResolver;

/** The one jinjava engine chat templates render with, and the Jinja2 globals HF gives them. */
final class JinjavaSetup {
    private JinjavaSetup() {}

    static Jinjava create() {
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                // jinjava would otherwise render a message's "{{ ... }}" as template code
                .withNestedInterpretationEnabled(false)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseTrimmingForNotesAndExpressions(true) // "{{-" and "-}}" as in Jinja2
                        .withParseWhitespaceControlStrictly(true)
                        .withUseNaturalOperatorPrecedence(true) // 'a' + x | trim trims x only
                        .withKeepNullableLoopValues(true)
                        .build())
                .withElResolver(resolver())
                .build();
        Jinjava jinjava = new Jinjava(config);
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                JinjavaSetup.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                JinjavaSetup.class, "strftimeNow", String.class));
        jinjava.getGlobalContext().registerFilter(new PythonJson());
        return jinjava;
    }

    private static ELResolver resolver() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        return resolver;
    }

    /** The template's own refusal; carried out of jinjava as a fatal error with this message. */
    public static String raiseException(String message) {
        throw new ChatTemplateException(message);
    }

    public static String strftimeNow(String format) {
        return Strftime.format(format, LocalDateTime.now());
    }

    static String describe(TemplateError error) {
        for (Throwable t = error.getException(); t != null; t = t.getCause()) {
            if (t instanceof ChatTemplateException refusal) {
                return refusal.getMessage();
            }
        }
        String message = error.getMessage();
        return error.getLineno() > 0 ? message + " (template line " + error.getLineno() + ")" : message;
    }
}
