package dev.edgekit.core.tokenizer;

import dev.edgekit.core.Json;
import dev.edgekit.core.SchemaException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The pre-tokenizers of huggingface/tokenizers that byte-level BPE models use, read from tokenizer.json's
 * "pre_tokenizer": ByteLevel, Split, Digits and Sequence. Each turns a list of pieces into a finer list; ByteLevel
 * also rewrites every piece into byte-level characters (as tokenizers' ByteLevel does in its normalize step).
 */
public abstract class PreTokenizer {
    /**
     * GPT-2's split pattern, used by ByteLevel when use_regex is true (tokenizers pre_tokenizers/byte_level.rs).
     * UNICODE_CHARACTER_CLASS makes \s Unicode White_Space, as in the Rust/Oniguruma engines.
     */
    static final Pattern GPT2 = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    public abstract List<String> apply(List<String> pieces);

    /** True when this pre-tokenizer (or one inside a Sequence) maps text to byte-level characters. */
    boolean mapsBytes() {
        return false;
    }

    public static PreTokenizer fromJson(Object node) {
        if (node == null) {
            return new Identity();
        }
        Map<String, Object> obj = Json.object(node, "tokenizer.json pre_tokenizer");
        String type = Json.string(Json.require(obj, "type", "pre_tokenizer"), "pre_tokenizer.type");
        switch (type) {
            case "ByteLevel":
                return new ByteLevelPre(
                        Boolean.TRUE.equals(obj.get("add_prefix_space")),
                        !Boolean.FALSE.equals(obj.get("use_regex")));
            case "Split":
                return new Split(
                        pattern(obj.get("pattern"), "pre_tokenizer Split"),
                        behavior(Json.string(Json.require(obj, "behavior", "pre_tokenizer Split"), "Split.behavior")),
                        Boolean.TRUE.equals(obj.get("invert")));
            case "Digits":
                return new Digits(Boolean.TRUE.equals(obj.get("individual_digits")));
            case "Sequence": {
                List<PreTokenizer> steps = new ArrayList<>();
                for (Object step : Json.array(Json.require(obj, "pretokenizers", "pre_tokenizer Sequence"), "pretokenizers")) {
                    steps.add(fromJson(step));
                }
                return new Sequence(steps);
            }
            default:
                throw new SchemaException("tokenizer.json: pre_tokenizer type \"" + type + "\" is not supported by the "
                        + "edgekit Java tokenizer (supported: ByteLevel, Split, Digits, Sequence); "
                        + "use a byte-level BPE model or the Python runtime");
        }
    }

    /** A tokenizers "pattern": {"Regex": "..."} or {"String": "..."} (a literal). */
    static Pattern pattern(Object node, String where) {
        Map<String, Object> obj = Json.object(node, where + " pattern");
        if (obj.containsKey("Regex")) {
            return Pattern.compile(Json.string(obj.get("Regex"), where + " pattern.Regex"), Pattern.UNICODE_CHARACTER_CLASS);
        }
        if (obj.containsKey("String")) {
            return Pattern.compile(Pattern.quote(Json.string(obj.get("String"), where + " pattern.String")));
        }
        throw new SchemaException("tokenizer.json: " + where + " pattern needs \"Regex\" or \"String\", found " + obj.keySet());
    }

    static Splitter.Behavior behavior(String name) {
        switch (name) {
            case "Removed": return Splitter.Behavior.REMOVED;
            case "Isolated": return Splitter.Behavior.ISOLATED;
            case "MergedWithPrevious": return Splitter.Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext": return Splitter.Behavior.MERGED_WITH_NEXT;
            case "Contiguous": return Splitter.Behavior.CONTIGUOUS;
            default:
                throw new SchemaException("tokenizer.json: unknown split behavior \"" + name + "\" (known: Removed, "
                        + "Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
        }
    }

    static final class Identity extends PreTokenizer {
        @Override
        public List<String> apply(List<String> pieces) {
            return pieces;
        }
    }

    static final class ByteLevelPre extends PreTokenizer {
        private final boolean addPrefixSpace;
        private final boolean useRegex;

        ByteLevelPre(boolean addPrefixSpace, boolean useRegex) {
            this.addPrefixSpace = addPrefixSpace;
            this.useRegex = useRegex;
        }

        @Override
        public List<String> apply(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (String piece : pieces) {
                String p = addPrefixSpace && !piece.startsWith(" ") ? " " + piece : piece;
                List<String> parts = useRegex ? Splitter.split(p, GPT2, Splitter.Behavior.ISOLATED, false) : java.util.Collections.singletonList(p);
                for (String part : parts) {
                    out.add(ByteLevel.encode(part));
                }
            }
            return out;
        }

        @Override
        boolean mapsBytes() {
            return true;
        }
    }

    static final class Split extends PreTokenizer {
        private final Pattern pattern;
        private final Splitter.Behavior behavior;
        private final boolean invert;

        Split(Pattern pattern, Splitter.Behavior behavior, boolean invert) {
            this.pattern = pattern;
            this.behavior = behavior;
            this.invert = invert;
        }

        @Override
        public List<String> apply(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (String piece : pieces) {
                out.addAll(Splitter.split(piece, pattern, behavior, invert));
            }
            return out;
        }
    }

    /** tokenizers' Digits: numeric characters (Rust char::is_numeric: Nd, Nl, No) isolated or grouped. */
    static final class Digits extends PreTokenizer {
        private static final Pattern NUMERIC = Pattern.compile("[\\p{Nd}\\p{Nl}\\p{No}]");
        private final boolean individual;

        Digits(boolean individual) {
            this.individual = individual;
        }

        @Override
        public List<String> apply(List<String> pieces) {
            List<String> out = new ArrayList<>();
            Splitter.Behavior b = individual ? Splitter.Behavior.ISOLATED : Splitter.Behavior.CONTIGUOUS;
            for (String piece : pieces) {
                out.addAll(Splitter.split(piece, NUMERIC, b, false));
            }
            return out;
        }
    }

    static final class Sequence extends PreTokenizer {
        private final List<PreTokenizer> steps;

        Sequence(List<PreTokenizer> steps) {
            this.steps = steps;
        }

        @Override
        public List<String> apply(List<String> pieces) {
            List<String> current = pieces;
            for (PreTokenizer step : steps) {
                current = step.apply(current);
            }
            return current;
        }

        @Override
        boolean mapsBytes() {
            for (PreTokenizer step : steps) {
                if (step.mapsBytes()) {
                    return true;
                }
            }
            return false;
        }
    }
}
