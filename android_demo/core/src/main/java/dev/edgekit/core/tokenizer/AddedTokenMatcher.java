package dev.edgekit.core.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens in text the way huggingface/tokenizers' AddedVocabulary does (tokenizer/added_vocabulary.rs):
 * leftmost-longest matches (its Aho-Corasick MatchKind::LeftmostLongest), honouring single_word, lstrip and rstrip.
 */
final class AddedTokenMatcher {
    /** A piece of the input: either plain text or one added token. */
    static final class Piece {
        final String text;
        final AddedToken token; // null for plain text

        Piece(String text, AddedToken token) {
            this.text = text;
            this.token = token;
        }
    }

    private final Map<Character, List<AddedToken>> byFirstChar = new HashMap<>();

    AddedTokenMatcher(List<AddedToken> tokens) {
        for (AddedToken t : tokens) {
            if (!t.content.isEmpty()) {
                byFirstChar.computeIfAbsent(t.content.charAt(0), k -> new ArrayList<>()).add(t);
            }
        }
        for (List<AddedToken> list : byFirstChar.values()) {
            list.sort(Comparator.comparingInt((AddedToken t) -> t.content.length()).reversed());
        }
    }

    boolean isEmpty() {
        return byFirstChar.isEmpty();
    }

    List<Piece> split(String text) {
        List<Piece> out = new ArrayList<>();
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            AddedToken hit = longestAt(text, i);
            if (hit == null) {
                i++;
                continue;
            }
            int start = i;
            int end = i + hit.content.length();
            if (hit.lstrip) {
                while (start > plainStart && Character.isWhitespace(text.charAt(start - 1))) {
                    start--;
                }
            }
            if (hit.rstrip) {
                while (end < text.length() && Character.isWhitespace(text.charAt(end))) {
                    end++;
                }
            }
            if (start > plainStart) {
                out.add(new Piece(text.substring(plainStart, start), null));
            }
            out.add(new Piece(text.substring(start, end), hit));
            plainStart = end;
            i = end;
        }
        if (plainStart < text.length()) {
            out.add(new Piece(text.substring(plainStart), null));
        }
        return out;
    }

    private AddedToken longestAt(String text, int i) {
        List<AddedToken> candidates = byFirstChar.get(text.charAt(i));
        if (candidates == null) {
            return null;
        }
        for (AddedToken t : candidates) {
            if (text.startsWith(t.content, i) && (!t.singleWord || isWordBoundary(text, i, i + t.content.length()))) {
                return t;
            }
        }
        return null;
    }

    private static boolean isWordBoundary(String text, int start, int end) {
        boolean before = start == 0 || !isWordChar(text.codePointBefore(start));
        boolean after = end >= text.length() || !isWordChar(text.codePointAt(end));
        return before && after;
    }

    private static boolean isWordChar(int cp) {
        return Character.isLetterOrDigit(cp) || cp == '_';
    }
}
