package dev.onnxsteer.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StrftimeTest {
    /** Expected strings from Python: datetime(2026, 12, 1, 9, 5, 7).strftime(...). */
    @Test
    void matchesPythonStrftime() {
        LocalDateTime t = LocalDateTime.of(2026, 12, 1, 9, 5, 7);
        assertEquals("01 Dec 2026", Strftime.format("%d %b %Y", t));
        assertEquals("Tuesday, December 01 26 09:05:07 AM day 335 100%", Strftime.format("%A, %B %d %y %H:%M:%S %p day %j 100%%", t));
        assertEquals("2026-12-01 09:05:07 Tue 09", Strftime.format("%F %T %a %I", t));
        assertThrows(ChatTemplateException.class, () -> Strftime.format("%Z", t));
    }

    /** Llama 3.2's template calls strftime_now("%d %b %Y") for today's date. */
    @Test
    void strftimeNowRendersTodayInTemplates() {
        ChatTemplate template = new ChatTemplate("{{ strftime_now('%Y-%m-%d') }}|{{ messages[0].content }}", null, null);
        String before = LocalDate.now().toString();
        String out = template.render(List.of(new ChatMessage("user", "x")), true, Map.of());
        String after = LocalDate.now().toString();
        String date = out.substring(0, out.indexOf('|'));
        assertTrue(date.equals(before) || date.equals(after), out);
        assertEquals("x", out.substring(out.indexOf('|') + 1));
    }
}
