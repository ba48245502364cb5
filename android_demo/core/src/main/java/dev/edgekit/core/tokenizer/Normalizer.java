package dev.edgekit.core.tokenizer;

import dev.edgekit.core.Json;
import dev.edgekit.core.SchemaException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** tokenizer.json "normalizer": null, NFC/NFD/NFKC/NFKD, Lowercase, Replace, Prepend, Sequence. */
public abstract class Normalizer {
    public abstract String apply(String text);

    public static Normalizer fromJson(Object node) {
        if (node == null) {
            return new Normalizer() {
                @Override
                public String apply(String text) {
                    return text;
                }
            };
        }
        Map<String, Object> obj = Json.object(node, "tokenizer.json normalizer");
        String type = Json.string(Json.require(obj, "type", "normalizer"), "normalizer.type");
        switch (type) {
            case "NFC": return unicode(java.text.Normalizer.Form.NFC);
            case "NFD": return unicode(java.text.Normalizer.Form.NFD);
            case "NFKC": return unicode(java.text.Normalizer.Form.NFKC);
            case "NFKD": return unicode(java.text.Normalizer.Form.NFKD);
            case "Lowercase":
                return new Normalizer() {
                    @Override
                    public String apply(String text) {
                        return text.toLowerCase(Locale.ROOT);
                    }
                };
            case "Replace": {
                Pattern p = PreTokenizer.pattern(obj.get("pattern"), "normalizer Replace");
                String content = Matcher.quoteReplacement(Json.string(Json.require(obj, "content", "normalizer Replace"), "content"));
                return new Normalizer() {
                    @Override
                    public String apply(String text) {
                        return p.matcher(text).replaceAll(content);
                    }
                };
            }
            case "Prepend": {
                String prefix = Json.string(Json.require(obj, "prepend", "normalizer Prepend"), "prepend");
                return new Normalizer() {
                    @Override
                    public String apply(String text) {
                        return text.isEmpty() ? text : prefix + text;
                    }
                };
            }
            case "Sequence": {
                List<Normalizer> steps = new ArrayList<>();
                for (Object step : Json.array(Json.require(obj, "normalizers", "normalizer Sequence"), "normalizers")) {
                    steps.add(fromJson(step));
                }
                return new Normalizer() {
                    @Override
                    public String apply(String text) {
                        for (Normalizer n : steps) {
                            text = n.apply(text);
                        }
                        return text;
                    }
                };
            }
            default:
                throw new SchemaException("tokenizer.json: normalizer type \"" + type + "\" is not supported by the "
                        + "edgekit Java tokenizer (supported: NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Sequence)");
        }
    }

    private static Normalizer unicode(java.text.Normalizer.Form form) {
        return new Normalizer() {
            @Override
            public String apply(String text) {
                return java.text.Normalizer.normalize(text, form);
            }
        };
    }
}
