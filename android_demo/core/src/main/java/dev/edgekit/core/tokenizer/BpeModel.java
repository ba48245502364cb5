package dev.edgekit.core.tokenizer;

import dev.edgekit.core.Json;
import dev.edgekit.core.SchemaException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The BPE model of tokenizer.json ("model": {"type": "BPE", "vocab", "merges", ...}). A word starts as one symbol per
 * character and the pair with the lowest merge rank is merged, leftmost first, until no ranked pair is left: the
 * order huggingface/tokenizers' {@code Word::merge_all} produces with its (rank, position) heap.
 */
final class BpeModel {
    private static final int CACHE_LIMIT = 10_000;

    private final Map<String, Integer> vocab;
    /** (left id, right id) -> (rank, merged id), packed as longs: key = left << 32 | right, value = rank << 32 | id. */
    private final HashMap<Long, Long> merges;
    private final boolean ignoreMerges;
    private final Integer unkId;
    private final boolean fuseUnk;
    private final Map<String, int[]> cache = new LinkedHashMap<String, int[]>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, int[]> eldest) {
            return size() > CACHE_LIMIT;
        }
    };

    BpeModel(Map<String, Integer> vocab, HashMap<Long, Long> merges, boolean ignoreMerges, Integer unkId, boolean fuseUnk) {
        this.vocab = vocab;
        this.merges = merges;
        this.ignoreMerges = ignoreMerges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
    }

    static BpeModel fromJson(Object node) {
        Map<String, Object> obj = Json.object(node, "tokenizer.json model");
        String type = String.valueOf(obj.get("type"));
        if (!"BPE".equals(type)) {
            throw new SchemaException("tokenizer.json: model type \"" + type + "\" is not supported by the edgekit Java "
                    + "tokenizer (it reads byte-level BPE); use the Python runtime for this model");
        }
        if (obj.get("dropout") != null) {
            throw new SchemaException("tokenizer.json: BPE dropout is set; inference tokenization must be deterministic, "
                    + "set \"dropout\": null");
        }
        if (Boolean.TRUE.equals(obj.get("byte_fallback"))) {
            throw new SchemaException("tokenizer.json: BPE byte_fallback (SentencePiece-style) is not supported by the "
                    + "edgekit Java tokenizer; it reads byte-level BPE");
        }
        for (String affix : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            Object v = obj.get(affix);
            if (v != null && !"".equals(v)) {
                throw new SchemaException("tokenizer.json: BPE " + affix + " \"" + v + "\" is not supported "
                        + "(byte-level BPE uses none)");
            }
        }
        Map<String, Object> rawVocab = Json.object(Json.require(obj, "vocab", "model"), "model.vocab");
        Map<String, Integer> vocab = new HashMap<>(rawVocab.size() * 2);
        for (Map.Entry<String, Object> e : rawVocab.entrySet()) {
            vocab.put(e.getKey(), (int) Json.integer(e.getValue(), "model.vocab[" + e.getKey() + "]"));
        }
        List<Object> rawMerges = Json.array(Json.require(obj, "merges", "model"), "model.merges");
        HashMap<Long, Long> merges = new HashMap<>(rawMerges.size() * 2);
        for (int rank = 0; rank < rawMerges.size(); rank++) {
            String[] pair = mergePair(rawMerges.get(rank), rank);
            Integer a = vocab.get(pair[0]);
            Integer b = vocab.get(pair[1]);
            Integer ab = vocab.get(pair[0] + pair[1]);
            if (a == null || b == null || ab == null) {
                throw new SchemaException("tokenizer.json: merge " + rank + " (\"" + pair[0] + "\" + \"" + pair[1]
                        + "\") uses a token that is not in the vocab; the file is damaged, re-export the bundle");
            }
            long key = ((long) a << 32) | (b & 0xFFFFFFFFL);
            merges.putIfAbsent(key, ((long) rank << 32) | (ab & 0xFFFFFFFFL));
        }
        Integer unkId = null;
        Object unk = obj.get("unk_token");
        if (unk != null) {
            unkId = vocab.get(Json.string(unk, "model.unk_token"));
        }
        return new BpeModel(vocab, merges, Boolean.TRUE.equals(obj.get("ignore_merges")), unkId,
                Boolean.TRUE.equals(obj.get("fuse_unk")));
    }

    /** A merge is ["a", "b"] (tokenizers >= 0.20) or "a b" (older files). */
    private static String[] mergePair(Object merge, int rank) {
        if (merge instanceof String) {
            String s = (String) merge;
            int space = s.indexOf(' ');
            if (space < 0 || s.indexOf(' ', space + 1) >= 0) {
                throw new SchemaException("tokenizer.json: merge " + rank + " \"" + s + "\" is not two tokens separated by one space");
            }
            return new String[] {s.substring(0, space), s.substring(space + 1)};
        }
        List<Object> pair = Json.array(merge, "model.merges[" + rank + "]");
        if (pair.size() != 2) {
            throw new SchemaException("tokenizer.json: merge " + rank + " has " + pair.size() + " parts, expected 2");
        }
        return new String[] {Json.string(pair.get(0), "merge"), Json.string(pair.get(1), "merge")};
    }

    Integer tokenToId(String token) {
        return vocab.get(token);
    }

    int vocabSize() {
        return vocab.size();
    }

    Map<String, Integer> vocab() {
        return vocab;
    }

    /** The ids of one pre-tokenized word. */
    int[] encodeWord(String word) {
        int[] cached;
        synchronized (cache) {
            cached = cache.get(word);
        }
        if (cached != null) {
            return cached;
        }
        int[] ids = merge(word);
        synchronized (cache) {
            cache.put(word, ids);
        }
        return ids;
    }

    private int[] merge(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        List<Integer> symbols = new ArrayList<>(word.length());
        boolean lastWasUnk = false;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            String ch = new String(Character.toChars(cp));
            i += Character.charCount(cp);
            Integer id = vocab.get(ch);
            if (id != null) {
                symbols.add(id);
                lastWasUnk = false;
            } else if (unkId != null) {
                if (!(fuseUnk && lastWasUnk)) {
                    symbols.add(unkId);
                }
                lastWasUnk = true;
            }
            // no unk token: the character is dropped, as tokenizers does
        }
        while (symbols.size() > 1) {
            long best = Long.MAX_VALUE;
            int bestPos = -1;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Long m = merges.get(((long) symbols.get(i) << 32) | (symbols.get(i + 1) & 0xFFFFFFFFL));
                if (m != null && m < best) { // rank is in the high bits: smaller value = lower rank
                    best = m;
                    bestPos = i;
                }
            }
            if (bestPos < 0) {
                break;
            }
            symbols.set(bestPos, (int) (best & 0xFFFFFFFFL));
            symbols.remove(bestPos + 1);
        }
        int[] out = new int[symbols.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = symbols.get(i);
        }
        return out;
    }
}
