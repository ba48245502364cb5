package dev.edgekit.core.bundle;

import dev.edgekit.core.EdgekitException;
import dev.edgekit.core.IO;
import dev.edgekit.core.IntegrityException;
import dev.edgekit.core.Json;
import dev.edgekit.core.SchemaException;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The bundle manifest {@code edgekit.json}, read the way runtime/edgekit/runtime/manifest.py reads it (schema 1):
 * same required keys, same refusal of unknown schema versions, same size-then-sha256 file checks, and error messages
 * that name the file and the fix.
 */
public final class BundleManifest {
    public static final String MANIFEST_NAME = "edgekit.json";
    public static final String FORMAT_NAME = "edgekit-bundle";
    public static final int SCHEMA_VERSION = 1;

    /** One entry of "files". */
    public static final class FileEntry {
        public final String path;
        public final long size;
        public final String sha256;
        public final String role;

        FileEntry(String path, long size, String sha256, String role) {
            this.path = path;
            this.size = size;
            this.sha256 = sha256;
            this.role = role;
        }
    }

    /** "architecture": the hyperparameters the demo needs. */
    public static final class Architecture {
        public final String family;
        public final int numLayers;
        public final int numKvHeads;
        public final int headDim;
        public final int vocabSize;

        Architecture(String family, int numLayers, int numKvHeads, int headDim, int vocabSize) {
            this.family = family;
            this.numLayers = numLayers;
            this.numKvHeads = numKvHeads;
            this.headDim = headDim;
            this.vocabSize = vocabSize;
        }
    }

    /** "backend_config" of an ONNX bundle (OnnxGraphSpec + CacheSpec). */
    public static final class OnnxGraph {
        public final String modelFile;
        public final String inputIds;
        public final String attentionMask;
        public final String logitsToKeep;
        public final String logits;
        /** The output holding the final hidden state (the probe's input), or null in bundles without one. */
        public final String lastHidden;
        public final String profile;
        public final int numLayers;
        public final int numKvHeads;
        public final int headDim;
        public final boolean sharedBuffer;
        final String pastKey;
        final String pastValue;
        final String presentKey;
        final String presentValue;

        OnnxGraph(Map<String, Object> cfg) {
            String w = "edgekit.json backend_config";
            modelFile = Json.string(Json.require(cfg, "model_file", w), w + ".model_file");
            inputIds = str(cfg, "input_ids", "input_ids");
            attentionMask = str(cfg, "attention_mask", "attention_mask");
            logitsToKeep = str(cfg, "logits_to_keep", "logits_to_keep");
            logits = str(cfg, "logits", "logits");
            lastHidden = cfg.get("last_hidden") == null ? null : Json.string(cfg.get("last_hidden"), w + ".last_hidden");
            profile = str(cfg, "profile", "cpu");
            Map<String, Object> cache = Json.object(Json.require(cfg, "cache", w), w + ".cache");
            numLayers = (int) Json.integer(Json.require(cache, "num_layers", w + ".cache"), "cache.num_layers");
            numKvHeads = (int) Json.integer(Json.require(cache, "num_kv_heads", w + ".cache"), "cache.num_kv_heads");
            headDim = (int) Json.integer(Json.require(cache, "head_dim", w + ".cache"), "cache.head_dim");
            sharedBuffer = !Boolean.FALSE.equals(cache.get("shared_buffer"));
            pastKey = str(cache, "past_key", "past_key_values.{layer}.key");
            pastValue = str(cache, "past_value", "past_key_values.{layer}.value");
            presentKey = str(cache, "present_key", "present.{layer}.key");
            presentValue = str(cache, "present_value", "present.{layer}.value");
            String layout = str(cache, "layout", "BNSH");
            String dtype = str(cache, "dtype", "float32");
            if (!"BNSH".equals(layout) || !"float32".equals(dtype)) {
                throw new SchemaException(w + ".cache: layout " + layout + " / dtype " + dtype + " is not supported by the "
                        + "demo (it runs BNSH float32 caches); re-export with the default ONNX recipe");
            }
        }

        public String pastKey(int layer) {
            return pastKey.replace("{layer}", Integer.toString(layer));
        }

        public String pastValue(int layer) {
            return pastValue.replace("{layer}", Integer.toString(layer));
        }

        public String presentKey(int layer) {
            return presentKey.replace("{layer}", Integer.toString(layer));
        }

        public String presentValue(int layer) {
            return presentValue.replace("{layer}", Integer.toString(layer));
        }

        private static String str(Map<String, Object> obj, String key, String fallback) {
            Object v = obj.get(key);
            return v == null ? fallback : Json.string(v, "edgekit.json backend_config." + key);
        }
    }

    public final String backend;
    public final String modelName;
    public final Architecture architecture;
    public final List<FileEntry> files;
    public final Map<String, Object> backendConfig;
    public final int maxContext;
    public final String tokenizerFile;
    public final Integer bosId;
    public final boolean addBos;
    public final List<Integer> eosIds;
    public final String chatTemplate;
    public final GenerationDefaults generationDefaults;

    /** "generation_defaults". */
    public static final class GenerationDefaults {
        public final double temperature;
        public final int topK;
        public final double topP;
        public final double minP;
        public final double repetitionPenalty;
        public final int maxNewTokens;

        GenerationDefaults(Map<String, Object> g) {
            temperature = num(g, "temperature", 0.0);
            topK = (int) num(g, "top_k", 0);
            topP = num(g, "top_p", 1.0);
            minP = num(g, "min_p", 0.0);
            repetitionPenalty = num(g, "repetition_penalty", 1.0);
            maxNewTokens = (int) num(g, "max_new_tokens", 256);
        }

        private static double num(Map<String, Object> g, String key, double fallback) {
            Object v = g.get(key);
            return v == null ? fallback : Json.number(v, "edgekit.json generation_defaults." + key);
        }
    }

    private BundleManifest(Map<String, Object> data, String where) {
        backend = Json.string(Json.require(data, "backend", where), where + " backend");
        Object model = data.get("model");
        modelName = model instanceof Map ? String.valueOf(((Map<?, ?>) model).get("name")) : "";
        Map<String, Object> arch = Json.object(Json.require(data, "architecture", where), where + " architecture");
        architecture = new Architecture(
                Json.string(Json.require(arch, "family", where + " architecture"), "architecture.family"),
                (int) Json.integer(Json.require(arch, "num_layers", where + " architecture"), "architecture.num_layers"),
                (int) Json.integer(Json.require(arch, "num_kv_heads", where + " architecture"), "architecture.num_kv_heads"),
                (int) Json.integer(Json.require(arch, "head_dim", where + " architecture"), "architecture.head_dim"),
                (int) Json.integer(Json.require(arch, "vocab_size", where + " architecture"), "architecture.vocab_size"));
        List<FileEntry> entries = new ArrayList<>();
        for (Object item : Json.array(Json.require(data, "files", where), where + " files")) {
            Map<String, Object> f = Json.object(item, where + " files[]");
            entries.add(new FileEntry(
                    Json.string(Json.require(f, "path", where + " files[]"), "files[].path"),
                    Json.integer(Json.require(f, "size", where + " files[]"), "files[].size"),
                    Json.string(Json.require(f, "sha256", where + " files[]"), "files[].sha256"),
                    Json.string(Json.require(f, "role", where + " files[]"), "files[].role")));
        }
        files = Collections.unmodifiableList(entries);
        backendConfig = Json.object(Json.require(data, "backend_config", where), where + " backend_config");
        Map<String, Object> context = Json.object(Json.require(data, "context", where), where + " context");
        maxContext = (int) Json.integer(Json.require(context, "max_context", where + " context"), "context.max_context");
        Map<String, Object> tok = Json.object(Json.require(data, "tokenizer", where), where + " tokenizer");
        tokenizerFile = tok.get("file") == null ? "tokenizer.json" : Json.string(tok.get("file"), "tokenizer.file");
        bosId = tok.get("bos_id") == null ? null : (int) Json.integer(tok.get("bos_id"), "tokenizer.bos_id");
        addBos = Boolean.TRUE.equals(tok.get("add_bos"));
        List<Integer> eos = new ArrayList<>();
        if (tok.get("eos_ids") != null) {
            for (Object id : Json.array(tok.get("eos_ids"), "tokenizer.eos_ids")) {
                eos.add((int) Json.integer(id, "tokenizer.eos_ids[]"));
            }
        }
        eosIds = Collections.unmodifiableList(eos);
        Object template = data.get("chat_template");
        chatTemplate = template == null ? null : Json.string(template, "chat_template");
        Object defaults = data.get("generation_defaults");
        generationDefaults = new GenerationDefaults(defaults == null ? Collections.<String, Object>emptyMap() : Json.object(defaults, "generation_defaults"));
    }

    /** Parses manifest text; {@code where} names the file in messages. */
    public static BundleManifest parse(String text, String where) {
        Object data;
        try {
            data = Json.parse(text);
        } catch (EdgekitException e) {
            throw new SchemaException(where + ": not valid JSON (" + e.getMessage() + "); the bundle is damaged, re-export it");
        }
        if (!(data instanceof Map) || !FORMAT_NAME.equals(((Map<?, ?>) data).get("format"))) {
            throw new SchemaException(where + ": not an edgekit bundle manifest (no \"format\": \"" + FORMAT_NAME + "\")");
        }
        Map<String, Object> obj = Json.object(data, where);
        Object version = obj.get("schema_version");
        if (!(version instanceof Long) || (Long) version != SCHEMA_VERSION) {
            throw new SchemaException(where + ": schema_version " + version + " is not supported by this app (it reads "
                    + SCHEMA_VERSION + "); re-export the bundle with a matching edgekit or update the app");
        }
        try {
            return new BundleManifest(obj, where);
        } catch (SchemaException e) {
            throw e;
        } catch (EdgekitException e) {
            throw new SchemaException(where + ": malformed manifest (" + e.getMessage() + "); re-export the bundle");
        }
    }

    /** Reads edgekit.json from a source. */
    public static BundleManifest read(BundleSource source) {
        String where = source.describe() + "/" + MANIFEST_NAME;
        try {
            if (source.size(MANIFEST_NAME) < 0) {
                throw new SchemaException(source.describe() + " has no " + MANIFEST_NAME
                        + ": not an edgekit bundle (export one with `edgekit export` and copy the whole folder)");
            }
            try (InputStream in = source.open(MANIFEST_NAME)) {
                return parse(IO.readUtf8(in), where);
            }
        } catch (IOException e) {
            throw new SchemaException("cannot read " + where + " (" + e.getMessage() + ")", e);
        }
    }

    /** The ONNX graph description; an error if this bundle is not an ONNX bundle. */
    public OnnxGraph onnxGraph() {
        if (!"onnx".equals(backend)) {
            throw new SchemaException("edgekit.json: backend \"" + backend + "\" cannot run in the app (it runs \"onnx\" "
                    + "bundles); export with `edgekit export MODEL --target onnx`");
        }
        return new OnnxGraph(backendConfig);
    }

    public FileEntry file(String role) {
        for (FileEntry f : files) {
            if (f.role.equals(role)) {
                return f;
            }
        }
        throw new SchemaException(MANIFEST_NAME + ": no file with role \"" + role + "\"");
    }

    /** Checks every listed file exists with its size and (optionally) its sha256, before any compute. */
    public void verify(BundleSource source, boolean checkHash) {
        for (FileEntry entry : files) {
            long size;
            try {
                size = source.size(entry.path);
            } catch (IOException e) {
                throw new IntegrityException("cannot stat bundle file \"" + entry.path + "\" (" + e.getMessage() + ")", e);
            }
            if (size < 0) {
                throw new IntegrityException("bundle file \"" + entry.path + "\" is missing from " + source.describe()
                        + "; copy the whole bundle folder again or re-export");
            }
            if (size != entry.size) {
                throw new IntegrityException("bundle file \"" + entry.path + "\" is " + size + " bytes, the manifest says "
                        + entry.size + " (truncated or replaced); copy the bundle again or re-export");
            }
            if (checkHash && !sha256(source, entry.path).equals(entry.sha256)) {
                throw new IntegrityException("bundle file \"" + entry.path + "\" fails its sha256 check (modified or "
                        + "corrupted); copy the bundle again or re-export");
            }
        }
    }

    public static String sha256(BundleSource source, String path) {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
        byte[] buffer = new byte[1 << 16];
        try (InputStream in = source.open(path)) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                digest.update(buffer, 0, n);
            }
        } catch (IOException e) {
            throw new IntegrityException("cannot read bundle file \"" + path + "\" (" + e.getMessage() + ")", e);
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : digest.digest()) {
            hex.append(String.format("%02x", b & 0xFF));
        }
        return hex.toString();
    }
}
