package dev.edgekit.core.policy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Personal data is replaced by numbered placeholders before a prompt leaves the phone, and put back into the
 * cloud's answer: a port of sdk/edgekit/sdk/redaction.py (same patterns in the same order, same Luhn/date/IPv6
 * checks, same placeholder numbering across one conversation).
 */
public final class Redactor {
    /** Placeholder -> original value for one conversation. */
    public static final class Redaction {
        public final Map<String, String> mapping = new LinkedHashMap<>();

        public String restore(String text) {
            if (mapping.isEmpty()) {
                return text;
            }
            Matcher m = PLACEHOLDER.matcher(text);
            StringBuffer out = new StringBuffer();
            while (m.find()) {
                String value = mapping.get(m.group());
                m.appendReplacement(out, Matcher.quoteReplacement(value != null ? value : m.group()));
            }
            m.appendTail(out);
            return out.toString();
        }
    }

    /** Restores placeholders in a stream whose chunks may split one: holds back a trailing "[..." until it closes. */
    public static final class StreamRestorer {
        private static final int MAX = 16; // the longest placeholder "[PHONE_999999]" is 14 characters
        private final Redaction redaction;
        private String pending = "";

        public StreamRestorer(Redaction redaction) {
            this.redaction = redaction;
        }

        public String feed(String chunk) {
            String text = pending + chunk;
            pending = "";
            if (!redaction.mapping.isEmpty()) {
                int cut = text.lastIndexOf('[');
                if (cut != -1 && text.indexOf(']', cut) == -1 && text.length() - cut < MAX) {
                    pending = text.substring(cut);
                    text = text.substring(0, cut);
                }
            }
            return redaction.restore(text);
        }

        public String flush() {
            String text = pending;
            pending = "";
            return redaction.restore(text);
        }
    }

    private interface Check {
        boolean ok(String match);
    }

    private static final class Kind {
        final Pattern pattern;
        final Check check;
        final String label;

        Kind(Pattern pattern, Check check, String label) {
            this.pattern = pattern;
            this.check = check;
            this.label = label;
        }
    }

    private static final int U = Pattern.UNICODE_CHARACTER_CLASS;
    private static final String OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
    private static final String H = "[0-9A-Fa-f]{1,4}";
    static final Pattern PLACEHOLDER = Pattern.compile("\\[(EMAIL|CARD|IP|PHONE)_(\\d+)\\]");
    private static final Pattern DATE = Pattern.compile("\\d{4}([./-])\\d{1,2}\\1\\d{1,2}|\\d{1,2}([./-])\\d{1,2}\\2\\d{4}", U);
    private static final List<Kind> KINDS = new ArrayList<>();

    static {
        KINDS.add(new Kind(Pattern.compile("(?<![\\w.+-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                + "@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}(?![\\w-])", U), null, "EMAIL"));
        KINDS.add(new Kind(Pattern.compile("(?<![\\w.])\\d(?:[ -]?\\d){12,18}(?![\\w.]|[ -]\\d)", U), Redactor::cardOk, "CARD"));
        KINDS.add(new Kind(Pattern.compile("(?<![\\w.])" + OCTET + "(?:\\." + OCTET + "){3}(?![\\w]|\\.\\d)", U), null, "IP"));
        KINDS.add(new Kind(Pattern.compile("(?<![\\w:])(?:(?:" + H + ":){7}" + H + "|(?:" + H + ":){1,7}:(?:" + H + "(?::" + H
                + "){0,6})?|::(?:" + H + "(?::" + H + "){0,6}))(?![\\w:])", U), Redactor::ipv6Ok, "IP"));
        KINDS.add(new Kind(Pattern.compile("(?<![\\w+])(?:\\+\\d{1,3}[ .-]?(?:\\(\\d{1,4}\\)[ .-]?)?\\d{1,4}(?:[ .-]?\\d{1,4}){1,4}"
                + "|\\(\\d{2,4}\\)[ .-]?\\d{2,4}(?:[ .-]\\d{2,4}){1,3}|\\d{2,4}(?:[ .-]\\d{2,4}){2,4})(?![\\w])", U), Redactor::phoneOk, "PHONE"));
    }

    /** The Luhn mod-10 check of ISO/IEC 7812-1. */
    public static boolean luhnValid(String digits) {
        int total = 0;
        for (int i = 0; i < digits.length(); i++) {
            int d = digits.charAt(digits.length() - 1 - i) - '0';
            if (i % 2 == 1) {
                d *= 2;
                if (d > 9) {
                    d -= 9;
                }
            }
            total += d;
        }
        return total % 10 == 0;
    }

    private static String digitsOf(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            if (Character.isDigit(s.charAt(i))) {
                b.append(s.charAt(i));
            }
        }
        return b.toString();
    }

    private static boolean cardOk(String m) {
        String d = digitsOf(m);
        return d.length() >= 13 && d.length() <= 19 && luhnValid(d);
    }

    private static boolean phoneOk(String m) {
        if (DATE.matcher(m).matches()) {
            return false; // 2024-05-01, 01.05.2024: dates, not phones
        }
        String d = digitsOf(m);
        if (d.length() < 7 || d.length() > 15) {
            return false; // ITU-T E.164 caps a number at 15 digits
        }
        if (m.contains(".") && !m.startsWith("+")) {
            boolean shortGroups = true;
            for (String g : m.split("\\.", -1)) {
                shortGroups &= g.length() <= 3;
            }
            if (shortGroups) {
                return false; // IPv4-like or a version number
            }
        }
        return true;
    }

    private static boolean ipv6Ok(String m) {
        int colons = 0;
        for (int i = 0; i < m.length(); i++) {
            if (m.charAt(i) == ':') {
                colons++;
            }
        }
        return colons >= 3 || (m.contains("::") && m.length() > 2);
    }

    /** Redacts {@code text}, adding to {@code redaction}'s mapping (one mapping per conversation). */
    public String redact(String text, Redaction redaction) {
        List<int[]> spans = new ArrayList<>(); // start, end, kind index
        for (int k = 0; k < KINDS.size(); k++) {
            Kind kind = KINDS.get(k);
            Matcher m = kind.pattern.matcher(text);
            while (m.find()) {
                if (kind.check != null && !kind.check.ok(m.group())) {
                    continue;
                }
                boolean overlaps = false;
                for (int[] s : spans) {
                    overlaps |= m.start() < s[1] && s[0] < m.end();
                }
                if (!overlaps) {
                    spans.add(new int[] {m.start(), m.end(), k});
                }
            }
        }
        spans.sort((a, b) -> a[0] != b[0] ? Integer.compare(a[0], b[0]) : Integer.compare(a[1], b[1]));
        Map<String, String> reverse = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : redaction.mapping.entrySet()) {
            reverse.put(e.getValue(), e.getKey());
        }
        StringBuilder out = new StringBuilder();
        int pos = 0;
        for (int[] s : spans) {
            String value = text.substring(s[0], s[1]);
            String placeholder = reverse.get(value);
            if (placeholder == null) {
                String label = KINDS.get(s[2]).label;
                int n = 1;
                for (String key : redaction.mapping.keySet()) {
                    if (key.startsWith("[" + label + "_")) {
                        n++;
                    }
                }
                placeholder = "[" + label + "_" + n + "]";
                redaction.mapping.put(placeholder, value);
                reverse.put(value, placeholder);
            }
            out.append(text, pos, s[0]).append(placeholder);
            pos = s[1];
        }
        return out.append(text.substring(pos)).toString();
    }
}
