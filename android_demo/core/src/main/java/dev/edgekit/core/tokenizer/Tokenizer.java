package dev.edgekit.core.tokenizer;

import dev.edgekit.core.EdgekitException;
import dev.edgekit.core.Json;
import dev.edgekit.core.SchemaException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A byte-level BPE tokenizer read from a huggingface/tokenizers {@code tokenizer.json}, producing the same ids as
 * {@code tokenizers.Tokenizer.encode(text, add_special_tokens=False)} (checked against shared vectors in
 * tests/vectors/tokenizer_vectors.json). Special tokens written in the text ("&lt;|im_start|&gt;") are recognised,
 * as tokenizers does; BOS is the caller's business (the manifest's tokenizer.add_bos), as in the Python runtime.
 */
public final class Tokenizer {
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final BpeModel model;
    private final boolean byteLevelDecoder;
    private final AddedTokenMatcher rawTokens;
    private final AddedTokenMatcher normalizedTokens;
    private final Map<Integer, AddedToken> addedById = new HashMap<>();
    private final Set<Integer> specialIds = new HashSet<>();
    private final String[] idToToken;

    private Tokenizer(Map<String, Object> root) {
        this.normalizer = Normalizer.fromJson(root.get("normalizer"));
        this.preTokenizer = PreTokenizer.fromJson(root.get("pre_tokenizer"));
        this.model = BpeModel.fromJson(Json.require(root, "model", "tokenizer.json"));
        this.byteLevelDecoder = decoderIsByteLevel(root.get("decoder"));
        List<AddedToken> raw = new ArrayList<>();
        List<AddedToken> normalized = new ArrayList<>();
        Object added = root.get("added_tokens");
        if (added != null) {
            for (Object item : Json.array(added, "tokenizer.json added_tokens")) {
                Map<String, Object> t = Json.object(item, "added_tokens[]");
                AddedToken token = new AddedToken(
                        (int) Json.integer(Json.require(t, "id", "added_tokens[]"), "added_tokens[].id"),
                        Json.string(Json.require(t, "content", "added_tokens[]"), "added_tokens[].content"),
                        Boolean.TRUE.equals(t.get("special")),
                        Boolean.TRUE.equals(t.get("single_word")),
                        Boolean.TRUE.equals(t.get("lstrip")),
                        Boolean.TRUE.equals(t.get("rstrip")),
                        Boolean.TRUE.equals(t.get("normalized")));
                addedById.put(token.id, token);
                if (token.special) {
                    specialIds.add(token.id);
                }
                // tokenizers matches normalized=false tokens on the raw text, the others after normalization
                (token.normalized ? normalized : raw).add(token);
            }
        }
        this.rawTokens = new AddedTokenMatcher(raw);
        this.normalizedTokens = new AddedTokenMatcher(normalized);
        int size = model.vocabSize();
        for (int id : addedById.keySet()) {
            size = Math.max(size, id + 1);
        }
        this.idToToken = new String[size];
        for (Map.Entry<String, Integer> e : model.vocab().entrySet()) {
            if (e.getValue() >= 0 && e.getValue() < size) {
                idToToken[e.getValue()] = e.getKey();
            }
        }
        for (AddedToken t : addedById.values()) {
            idToToken[t.id] = t.content;
        }
    }

    public static Tokenizer fromJson(String json) {
        return new Tokenizer(Json.object(Json.parse(json), "tokenizer.json"));
    }

    public static Tokenizer fromFile(Path path) {
        String text;
        try {
            text = new String(Files.readAllBytes(path), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SchemaException("cannot read tokenizer file " + path + " (" + e.getMessage()
                    + "); copy the whole bundle folder again", e);
        }
        try {
            return fromJson(text);
        } catch (SchemaException e) {
            throw e;
        } catch (EdgekitException e) {
            throw new SchemaException(path + ": " + e.getMessage() + "; the bundle is damaged, re-export it", e);
        }
    }

    private static boolean decoderIsByteLevel(Object node) {
        if (node == null) {
            return false;
        }
        Map<String, Object> obj = Json.object(node, "tokenizer.json decoder");
        String type = String.valueOf(obj.get("type"));
        if ("ByteLevel".equals(type)) {
            return true;
        }
        if ("Sequence".equals(type)) {
            List<Object> steps = Json.array(Json.require(obj, "decoders", "decoder Sequence"), "decoders");
            if (steps.size() == 1 && decoderIsByteLevel(steps.get(0))) {
                return true;
            }
        }
        throw new SchemaException("tokenizer.json: decoder " + Json.write(obj) + " is not supported by the edgekit Java "
                + "tokenizer (it decodes ByteLevel)");
    }

    /** Token ids of {@code text}, without BOS/EOS (tokenizers' add_special_tokens=False). */
    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        for (AddedTokenMatcher.Piece piece : rawTokens.split(text)) {
            if (piece.token != null) {
                ids.add(piece.token.id);
                continue;
            }
            String normalized = normalizer.apply(piece.text);
            for (AddedTokenMatcher.Piece inner : normalizedTokens.split(normalized)) {
                if (inner.token != null) {
                    ids.add(inner.token.id);
                    continue;
                }
                List<String> words = preTokenizer.apply(java.util.Collections.singletonList(inner.text));
                for (String word : words) {
                    if (word.isEmpty()) {
                        continue;
                    }
                    for (int id : model.encodeWord(word)) {
                        ids.add(id);
                    }
                }
            }
        }
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i);
        }
        return out;
    }

    /** The raw bytes the ids stand for (before UTF-8 decoding); special tokens are skipped when asked. */
    public byte[] decodeBytes(int[] ids, boolean skipSpecial) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) {
            appendBytes(id, skipSpecial, out);
        }
        return out.toByteArray();
    }

    void appendBytes(int id, boolean skipSpecial, ByteArrayOutputStream out) {
        if (skipSpecial && specialIds.contains(id)) {
            return;
        }
        String token = idToToken(id);
        if (byteLevelDecoder) {
            ByteLevel.decodeInto(token, out);
        } else {
            byte[] raw = token.getBytes(StandardCharsets.UTF_8);
            out.write(raw, 0, raw.length);
        }
    }

    /** Text of the ids; invalid UTF-8 becomes U+FFFD, as tokenizers' from_utf8_lossy does. */
    public String decode(int[] ids, boolean skipSpecial) {
        return new String(decodeBytes(ids, skipSpecial), StandardCharsets.UTF_8);
    }

    /** A decoder for streaming: text comes out only once a UTF-8 character is complete. */
    public StreamDecoder streamDecoder(boolean skipSpecial) {
        return new StreamDecoder(this, skipSpecial);
    }

    public String idToToken(int id) {
        if (id < 0 || id >= idToToken.length || idToToken[id] == null) {
            throw new EdgekitException("token id " + id + " is outside this tokenizer's vocabulary (size "
                    + idToToken.length + "); the model and tokenizer.json do not belong together");
        }
        return idToToken[id];
    }

    /** Id of a token string (vocab or added token), or null. */
    public Integer tokenToId(String token) {
        for (AddedToken t : addedById.values()) {
            if (t.content.equals(token)) {
                return t.id;
            }
        }
        return model.tokenToId(token);
    }

    public boolean isSpecial(int id) {
        return specialIds.contains(id);
    }

    public int vocabSize() {
        return idToToken.length;
    }
}
