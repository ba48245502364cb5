package dev.edgekit.core.policy;

import dev.edgekit.core.EdgekitException;
import dev.edgekit.core.Json;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The escalation policy read from the same file as the Python SDK ({@code edgekit calibrate} writes it): a port of
 * sdk/edgekit/sdk/policy/policy.py, whose docstring specifies the decision. Stage 1 (router, before generation):
 * family by the first matching pattern; privacy "local-only" never escalates; the first matching router rule
 * escalates; else the family's router model (standardised logistic regression, escalate when p >= threshold).
 * While generating (files with an "early" section): after each of the first early.max_tokens tokens, the early
 * model on the question's and the answer prefix's signals may stop and escalate ({@link #earlyDecision}).
 * Version 2 files may add a hidden-state probe ({@link PromptProbe}): the last step of stage 1, for a question the
 * rules and the router model keep local, on the prompt's final hidden state after prefill ({@link #probeDecision}).
 * Stage 2 (after generation): context overflow escalates; else the family's post model decides. Version 3 files
 * may add an answer probe ({@link AnswerProbe}), a post-model feature read from the mean of the final hidden states
 * that drew the answer's tokens ({@link #decide(String, Map, float[])}).
 * Checked against tests/vectors/policy_vectors.json (PolicyVectorsTest).
 */
public final class Policy {
    public static final String FORMAT = "edgekit-policy";
    /** The newest version this app reads, and every older one (2 adds the optional probe, 3 the answer probe). */
    public static final int VERSION = 3;
    private static final String GENERAL = "general";
    private static final int FLAGS = Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS;

    static final class Family {
        final String name;
        final Pattern pattern;
        final String answerKind;

        Family(String name, Pattern pattern, String answerKind) {
            this.name = name;
            this.pattern = pattern;
            this.answerKind = answerKind;
        }
    }

    static final class Rule {
        final String name;
        final String kind;
        final Pattern pattern;
        final List<Pattern> words = new ArrayList<>();
        final Double value;
        final List<String> families = new ArrayList<>();

        Rule(Map<String, Object> r, String where) {
            name = Json.string(Json.require(r, "name", where), where + ".name");
            kind = Json.string(Json.require(r, "kind", where), where + ".kind");
            Object p = r.get("pattern");
            pattern = p == null ? null : Pattern.compile(Json.string(p, where + ".pattern"), FLAGS);
            if (r.get("words") != null) {
                for (Object w : Json.array(r.get("words"), where + ".words")) {
                    words.add(Pattern.compile("\\b" + Pattern.quote(Json.string(w, where + ".words[]")) + "\\b", FLAGS));
                }
            }
            value = r.get("value") == null ? null : Json.number(r.get("value"), where + ".value");
            if (r.get("families") != null) {
                for (Object f : Json.array(r.get("families"), where + ".families")) {
                    families.add(Json.string(f, where + ".families[]"));
                }
            }
            switch (kind) {
                case "regex":
                    if (pattern == null) {
                        throw new EdgekitException("router rule \"" + name + "\": kind regex needs a pattern");
                    }
                    break;
                case "min_chars":
                case "min_digits":
                    if (value == null) {
                        throw new EdgekitException("router rule \"" + name + "\": kind " + kind + " needs a value");
                    }
                    break;
                case "keywords":
                case "family":
                    break;
                default:
                    throw new EdgekitException("unknown router rule kind \"" + kind
                            + "\"; known router rule kinds: family, keywords, min_chars, min_digits, regex");
            }
        }

        boolean matches(String q, String family) {
            switch (kind) {
                case "regex": return pattern.matcher(q).find();
                case "keywords":
                    for (Pattern w : words) {
                        if (w.matcher(q).find()) {
                            return true;
                        }
                    }
                    return false;
                case "min_chars": return q.codePointCount(0, q.length()) >= value;
                case "min_digits": return Signals.digits(q) >= value;
                case "family": return families.contains(family);
                default: throw new IllegalStateException(kind);
            }
        }
    }

    /** A standardised logistic regression: p = sigmoid(bias + sum w_i (x_i - mean_i) / std_i). */
    static final class Model {
        final List<String> features = new ArrayList<>();
        final double[] mean;
        final double[] std;
        final double[] weights;
        final double bias;
        final double threshold;

        Model(Map<String, Object> d, String where) {
            for (Object f : Json.array(Json.require(d, "features", where), where + ".features")) {
                features.add(Json.string(f, where + ".features[]"));
            }
            mean = doubles(Json.require(d, "mean", where), where + ".mean");
            std = doubles(Json.require(d, "std", where), where + ".std");
            weights = doubles(Json.require(d, "weights", where), where + ".weights");
            bias = Json.number(Json.require(d, "bias", where), where + ".bias");
            threshold = Json.number(Json.require(d, "threshold", where), where + ".threshold");
            int n = features.size();
            if (mean.length != n || std.length != n || weights.length != n) {
                throw new EdgekitException(where + ": features, mean, std and weights must have the same length; "
                        + "re-run `edgekit calibrate`");
            }
            for (double s : std) {
                if (!(s > 0)) {
                    throw new EdgekitException(where + ": every std must be > 0 (calibrate writes 1.0 for constant features)");
                }
            }
            if (!(threshold >= 0 && threshold <= 1)) {
                throw new EdgekitException(where + ": threshold " + threshold + " must be a probability in [0, 1]");
            }
        }

        boolean reads(String signal) {
            return features.contains(signal);
        }

        double probability(Map<String, Double> signals) {
            double s = bias;
            for (int i = 0; i < features.size(); i++) {
                Double x = signals.get(features.get(i));
                if (x == null) {
                    throw new EdgekitException("policy needs signal \"" + features.get(i) + "\", which was not computed; "
                            + "known: " + signals.keySet());
                }
                s += weights[i] * (x - mean[i]) / std[i];
            }
            if (s >= 0) {
                return 1.0 / (1.0 + Math.exp(-s));
            }
            double e = Math.exp(s);
            return e / (1.0 + e);
        }

        private static double[] doubles(Object node, String where) {
            List<Object> list = Json.array(node, where);
            double[] out = new double[list.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = Json.number(list.get(i), where + "[" + i + "]");
            }
            return out;
        }
    }

    private final List<Family> families = new ArrayList<>();
    private final List<Rule> rules = new ArrayList<>();
    private final Map<String, Model> routerModels = new LinkedHashMap<>();
    private final Map<String, Model> postModels = new LinkedHashMap<>();
    private final Model earlyModel;
    /** Tokens after which the early model may stop generation (0: the file has no early model). */
    public final int earlyMaxTokens;
    public final String privacy;
    /** The hidden-state probe, or null (version 1 files, and version 2 files without one). */
    public final PromptProbe probe;
    /** The answer probe, or null (files before version 3, and version 3 files without one). */
    public final AnswerProbe answerProbe;
    /** Local generation options the models were fitted with (e.g. max_new_tokens). */
    public final Map<String, Object> generation;

    private Policy(Map<String, Object> data, String privacyOverride, String where) {
        if (!FORMAT.equals(data.get("format"))) {
            throw new EdgekitException(where + ": not an edgekit policy file (no \"format\": \"" + FORMAT + "\")");
        }
        Object version = data.get("version");
        if (!(version instanceof Long) || (Long) version < 1 || (Long) version > VERSION) {
            throw new EdgekitException(where + ": policy version " + version + " is not supported (this app reads "
                    + "1 to " + VERSION + "); re-run `edgekit calibrate`");
        }
        if (data.get("probe") != null && (Long) version < 2) {
            throw new EdgekitException(where + ": a \"probe\" needs policy version 2, the file says " + version);
        }
        probe = data.get("probe") == null ? null : new PromptProbe(Json.object(data.get("probe"), where + ".probe"), where);
        if (data.get("answer_probe") != null && (Long) version < 3) {
            throw new EdgekitException(where + ": an \"answer_probe\" needs policy version 3, the file says " + version);
        }
        answerProbe = data.get("answer_probe") == null ? null
                : new AnswerProbe(Json.object(data.get("answer_probe"), where + ".answer_probe"), where);
        String p = privacyOverride != null ? privacyOverride : (data.get("privacy") == null ? "allow" : Json.string(data.get("privacy"), where + ".privacy"));
        if (!"allow".equals(p) && !"local-only".equals(p)) {
            throw new EdgekitException("privacy=\"" + p + "\" is unknown; use one of: allow, local-only");
        }
        privacy = p;
        if (data.get("families") != null) {
            for (Object item : Json.array(data.get("families"), where + ".families")) {
                Map<String, Object> f = Json.object(item, where + ".families[]");
                Object kind = f.get("answer_kind");
                families.add(new Family(Json.string(Json.require(f, "name", where + ".families[]"), "name"),
                        Pattern.compile(Json.string(Json.require(f, "pattern", where + ".families[]"), "pattern"), FLAGS),
                        kind == null ? null : Json.string(kind, "answer_kind")));
            }
        }
        Map<String, Object> router = data.get("router") == null ? Collections.<String, Object>emptyMap() : Json.object(data.get("router"), where + ".router");
        if (router.get("rules") != null) {
            for (Object item : Json.array(router.get("rules"), where + ".router.rules")) {
                rules.add(new Rule(Json.object(item, where + ".router.rules[]"), where + ".router.rules[]"));
            }
        }
        models(router.get("models"), routerModels, where + ".router.models");
        Object post = data.get("post");
        if (post != null) {
            models(Json.object(post, where + ".post").get("models"), postModels, where + ".post.models");
        }
        List<String> reading = new ArrayList<>();
        for (Map.Entry<String, Model> e : postModels.entrySet()) {
            if (e.getValue().reads(AnswerProbe.SIGNAL)) {
                reading.add(e.getKey());
            }
        }
        if (!reading.isEmpty()) {
            Collections.sort(reading);
            throw new EdgekitException("policy post models " + String.join(", ", reading) + " read the answer probe's "
                    + "score, which only the models of \"answer_probe\" read; re-run `edgekit calibrate`");
        }
        Object early = data.get("early");
        if (early != null) {
            Map<String, Object> e = Json.object(early, where + ".early");
            double n = Json.number(Json.require(e, "max_tokens", where + ".early"), where + ".early.max_tokens");
            if (n < 1 || n != Math.floor(n)) {
                throw new EdgekitException(where + ": early.max_tokens must be an integer >= 1; re-run `edgekit calibrate`");
            }
            earlyMaxTokens = (int) n;
            earlyModel = new Model(Json.object(Json.require(e, "model", where + ".early"), where + ".early.model"), where + ".early.model");
        } else {
            earlyMaxTokens = 0;
            earlyModel = null;
        }
        generation = data.get("generation") == null ? Collections.<String, Object>emptyMap() : Json.object(data.get("generation"), where + ".generation");
        this.raw = data;
    }

    private final Map<String, Object> raw;

    static void models(Object node, Map<String, Model> into, String where) {
        if (node == null) {
            return;
        }
        for (Map.Entry<String, Object> e : Json.object(node, where).entrySet()) {
            into.put(e.getKey(), new Model(Json.object(e.getValue(), where + "." + e.getKey()), where + "." + e.getKey()));
        }
    }

    public static Policy parse(String json, String where) {
        return new Policy(Json.object(Json.parse(json), where), null, where);
    }

    public static Policy fromMap(Map<String, Object> data, String where) {
        return new Policy(data, null, where);
    }

    public Policy withPrivacy(String mode) {
        return new Policy(raw, mode, "policy");
    }

    public String classify(String question) {
        for (Family f : families) {
            if (f.pattern.matcher(question).find()) {
                return f.name;
            }
        }
        return GENERAL;
    }

    public String answerKind(String family) {
        for (Family f : families) {
            if (f.name.equals(family)) {
                return f.answerKind;
            }
        }
        return null;
    }

    private static Model model(Map<String, Model> models, String family) {
        Model m = models.get(family);
        return m != null ? m : models.get("default");
    }

    /** Stage 1: escalate before generation? */
    public Decision route(String question, Map<String, Double> pre) {
        String family = classify(question);
        if ("local-only".equals(privacy)) {
            return new Decision(false, "privacy", "privacy:local-only", family);
        }
        for (Rule rule : rules) {
            if (rule.matches(question, family)) {
                return new Decision(true, "router", "router:rule:" + rule.name, family);
            }
        }
        Model m = model(routerModels, family);
        if (m != null) {
            double p = m.probability(pre);
            if (p >= m.threshold) {
                return new Decision(true, "router", "router:model:" + family, family, p, m.threshold);
            }
            return new Decision(false, "router", "router:local", family, p, m.threshold);
        }
        return new Decision(false, "router", "router:local", family);
    }

    /**
     * True when stage 1 gets to the probe: the policy has one, and the rules and router model kept the question
     * local. Only then is the prompt prefilled for its hidden state, so a question a rule escalates never is.
     */
    public boolean needsProbe(Decision routed) {
        return probe != null && !routed.escalate && "router".equals(routed.stage);
    }

    /** Stage 1, last step: the probe on the prompt's final hidden state (null: the bundle exports none). */
    public Decision probeDecision(Decision routed, float[] hidden) {
        if (hidden == null) {
            throw new EdgekitException("the policy has a hidden-state probe but the local model gave no prompt hidden state "
                    + "(a bundle exported without the last_hidden output); re-export the bundle with this edgekit or use a "
                    + "policy without a probe");
        }
        double p = probe.probability(hidden);
        if (p >= probe.threshold) {
            return new Decision(true, "router", "router:probe", routed.family, p, probe.threshold);
        }
        return routed;
    }

    /** While generating, after token prefix_tokens: stop and escalate now? (pre + prefix signals, {@link Signals#prefix}) */
    public Decision earlyDecision(String family, Map<String, Double> signals) {
        Double j = signals.get("prefix_tokens");
        if (earlyModel == null || "local-only".equals(privacy) || (j != null && j > earlyMaxTokens)) {
            return new Decision(false, "early", "early:continue", family);
        }
        double p = earlyModel.probability(signals);
        if (p >= earlyModel.threshold) {
            return new Decision(true, "early", "early:model:" + family, family, p, earlyModel.threshold);
        }
        return new Decision(false, "early", "early:continue", family, p, earlyModel.threshold);
    }

    /** Stage 2: escalate after seeing the local answer's signals (pre + post)? (no answer state) */
    public Decision decide(String family, Map<String, Double> signals) {
        return decide(family, signals, null);
    }

    /**
     * Stage 2 with the mean of the final hidden states that drew the answer's tokens
     * ({@code GenerationResult.answerHiddenMean}), which the answer probe reads when the policy has one.
     */
    public Decision decide(String family, Map<String, Double> signals, float[] answerHidden) {
        Map<String, Model> models = postModels;
        if (answerProbe != null) {
            signals = new LinkedHashMap<>(signals);
            answerProbe.addSignals(answerHidden, signals);
            if (AnswerProbe.read(signals)) {
                models = answerProbe.models;
            }
        }
        if ("local-only".equals(privacy)) {
            return new Decision(false, "privacy", "privacy:local-only", family);
        }
        Double overflow = signals.get("context_overflow");
        if (overflow != null && overflow >= 1.0) {
            return new Decision(true, "post", "post:context_overflow", family);
        }
        Model m = model(models, family);
        if (m == null) {
            return new Decision(false, "post", "post:accept", family);
        }
        double p = m.probability(signals);
        if (p >= m.threshold) {
            return new Decision(true, "post", "post:model:" + family, family, p, m.threshold);
        }
        return new Decision(false, "post", "post:accept", family, p, m.threshold);
    }

    /** The whole two-stage flow on recorded signals (sdk/edgekit/sdk/policy/vectors.py decide_vector). */
    public Decision decideRecorded(String question, Map<String, Double> signals, String privacyMode) {
        return decideRecorded(question, signals, privacyMode, null);
    }

    /** The same with the prompt's hidden state, for a policy with a probe. */
    public Decision decideRecorded(String question, Map<String, Double> signals, String privacyMode, float[] hidden) {
        return decideRecorded(question, signals, privacyMode, hidden, null);
    }

    /** The same with the answer's mean hidden state too, for a policy with an answer probe. */
    public Decision decideRecorded(String question, Map<String, Double> signals, String privacyMode, float[] hidden,
                                   float[] answerHidden) {
        Policy p = withPrivacy(privacyMode);
        Decision routed = p.route(question, signals);
        if (p.needsProbe(routed)) {
            routed = p.probeDecision(routed, hidden);
        }
        return routed.escalate || "privacy".equals(routed.stage) ? routed : p.decide(routed.family, signals, answerHidden);
    }
}
