package dev.edgekit.core.policy;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where the answer is in a generated text, by expected kind: a port of sdk/edgekit/sdk/policy/answer_span.py (its
 * docstring writes the rules down). Offsets are Java string indices; {@link Signals} measures token texts in the
 * same unit, so spans and tokens line up as they do in Python.
 */
public final class Answers {
    /** A span [start, end) of the text and its value. */
    public static final class Span {
        public final int start;
        public final int end;
        public final String value;

        Span(int start, int end, String value) {
            this.start = start;
            this.end = end;
            this.value = value;
        }
    }

    private static final Pattern NUMBER = Pattern.compile(
            "(?<![\\w.])-?\\d{1,3}(?:,\\d{3})+(?:\\.\\d+)?(?!\\d)|(?<![\\w.])-?\\d+(?:\\.\\d+)?(?!\\d)",
            Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern SENTENCE_END = Pattern.compile("[.!?\\n](?=\\s|$)", Pattern.UNICODE_CHARACTER_CLASS);
    private static final String[] MARKERS = {" is ", " are ", " equals ", " was ", " be ", ":"};
    private static final Pattern YESNO = Pattern.compile("\\b(yes|no)\\b",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);

    private Answers() {
    }

    public static String region(String text) {
        int cut = text.indexOf("\n\n");
        String out = cut == -1 ? text : text.substring(0, cut);
        return out.length() > 400 ? out.substring(0, 400) : out;
    }

    public static String firstSentence(String text) {
        String r = region(text);
        Matcher m = SENTENCE_END.matcher(r);
        return m.find() ? r.substring(0, m.start()) : r;
    }

    /** Python's finditer(text, pos): the search starts at pos and lookbehind still sees what comes before. */
    private static List<Span> numbers(String text, int start) {
        List<Span> out = new ArrayList<>();
        Matcher m = NUMBER.matcher(text);
        m.useTransparentBounds(true);
        m.region(start, text.length());
        while (m.find()) {
            out.add(new Span(m.start(), m.end(), m.group()));
        }
        return out;
    }

    static Span findNumber(String text) {
        String r = region(text);
        if (r.contains("=")) {
            int pos = r.indexOf('=');
            while (pos != -1) {
                List<Span> after = numbers(r, pos + 1);
                if (!after.isEmpty()) {
                    return after.get(0);
                }
                pos = r.indexOf('=', pos + 1);
            }
        }
        String sentence = firstSentence(text);
        for (String marker : MARKERS) {
            int pos = sentence.indexOf(marker);
            if (pos != -1) {
                List<Span> after = numbers(sentence, pos + marker.length());
                if (!after.isEmpty()) {
                    return after.get(0);
                }
            }
        }
        List<Span> inSentence = numbers(sentence, 0);
        if (!inSentence.isEmpty()) {
            return inSentence.get(inSentence.size() - 1);
        }
        List<Span> inRegion = numbers(r, 0);
        return inRegion.isEmpty() ? null : inRegion.get(0);
    }

    static Span findEntity(String text) {
        String sentence = firstSentence(text);
        int start = 0;
        for (String marker : MARKERS) {
            int pos = sentence.indexOf(marker);
            if (pos != -1) {
                start = pos + marker.length();
                break;
            }
        }
        int end = sentence.length();
        while (start < end && !Character.isLetterOrDigit(sentence.charAt(start))) {
            start++;
        }
        while (end > start && !Character.isLetterOrDigit(sentence.charAt(end - 1))) {
            end--;
        }
        if (end <= start) {
            return null;
        }
        String value = sentence.substring(start, end);
        boolean alpha = false;
        for (int i = 0; i < value.length(); i++) {
            alpha |= Character.isLetter(value.charAt(i));
        }
        return alpha ? new Span(start, end, value) : null;
    }

    static Span findYesNo(String text) {
        Matcher m = YESNO.matcher(region(text));
        return m.find() ? new Span(m.start(), m.end(), m.group(1).toLowerCase(java.util.Locale.ROOT)) : null;
    }

    /** The answer span for kind "number", "entity" or "yesno"; null when none is found. */
    public static Span find(String kind, String text) {
        switch (kind) {
            case "number": return findNumber(text);
            case "entity": return findEntity(text);
            case "yesno": return findYesNo(text);
            default:
                throw new dev.edgekit.core.EdgekitException("unknown answer kind \"" + kind
                        + "\"; known answer kinds: entity, number, yesno");
        }
    }
}
