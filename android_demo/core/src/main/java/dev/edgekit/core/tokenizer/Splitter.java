package dev.edgekit.core.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits a string around the matches of a pattern with one of huggingface/tokenizers' delimiter behaviours
 * ({@code SplitDelimiterBehavior} in tokenizers/src/tokenizer/normalizer.rs): Removed, Isolated,
 * MergedWithPrevious, MergedWithNext, Contiguous. Pieces are never empty.
 */
public final class Splitter {
    public enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** One stretch of the input: a match of the pattern or the text between matches. */
    static final class Span {
        final int start;
        final int end;
        final boolean match;

        Span(int start, int end, boolean match) {
            this.start = start;
            this.end = end;
            this.match = match;
        }
    }

    private Splitter() {
    }

    /** Matches and gaps in order, covering the whole string (empty matches are skipped, as tokenizers does). */
    static List<Span> spans(String text, Pattern pattern, boolean invert) {
        List<Span> spans = new ArrayList<>();
        Matcher m = pattern.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.end() == m.start()) {
                continue;
            }
            if (m.start() > last) {
                spans.add(new Span(last, m.start(), invert));
            }
            spans.add(new Span(m.start(), m.end(), !invert));
            last = m.end();
        }
        if (last < text.length()) {
            spans.add(new Span(last, text.length(), invert));
        }
        return spans;
    }

    public static List<String> split(String text, Pattern pattern, Behavior behavior, boolean invert) {
        return apply(text, spans(text, pattern, invert), behavior);
    }

    static List<String> apply(String text, List<Span> spans, Behavior behavior) {
        List<String> out = new ArrayList<>();
        switch (behavior) {
            case REMOVED:
                for (Span s : spans) {
                    if (!s.match) {
                        out.add(text.substring(s.start, s.end));
                    }
                }
                break;
            case ISOLATED:
                for (Span s : spans) {
                    out.add(text.substring(s.start, s.end));
                }
                break;
            case MERGED_WITH_PREVIOUS: {
                // a match joins the piece before it, unless that piece is itself a match (tokenizers' fold)
                List<int[]> acc = new ArrayList<>();
                boolean previousMatch = false;
                for (Span s : spans) {
                    if (s.match && !previousMatch && !acc.isEmpty()) {
                        acc.get(acc.size() - 1)[1] = s.end;
                    } else {
                        acc.add(new int[] {s.start, s.end});
                    }
                    previousMatch = s.match;
                }
                for (int[] r : acc) {
                    out.add(text.substring(r[0], r[1]));
                }
                break;
            }
            case MERGED_WITH_NEXT: {
                // the mirror image: walk backwards, a match joins the piece after it
                List<int[]> acc = new ArrayList<>();
                boolean previousMatch = false;
                for (int i = spans.size() - 1; i >= 0; i--) {
                    Span s = spans.get(i);
                    if (s.match && !previousMatch && !acc.isEmpty()) {
                        acc.get(acc.size() - 1)[0] = s.start;
                    } else {
                        acc.add(new int[] {s.start, s.end});
                    }
                    previousMatch = s.match;
                }
                for (int i = acc.size() - 1; i >= 0; i--) {
                    out.add(text.substring(acc.get(i)[0], acc.get(i)[1]));
                }
                break;
            }
            case CONTIGUOUS: {
                int start = -1;
                int end = -1;
                boolean prevMatch = false;
                for (Span s : spans) {
                    if (s.match && prevMatch) {
                        end = s.end;
                    } else {
                        if (start >= 0) {
                            out.add(text.substring(start, end));
                        }
                        start = s.start;
                        end = s.end;
                    }
                    prevMatch = s.match;
                }
                if (start >= 0) {
                    out.add(text.substring(start, end));
                }
                break;
            }
            default:
                throw new IllegalStateException(behavior.toString());
        }
        return out;
    }
}
