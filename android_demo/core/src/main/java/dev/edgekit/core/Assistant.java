package dev.edgekit.core;

import dev.edgekit.core.bundle.BundleManifest;
import dev.edgekit.core.cloud.ChatMessage;
import dev.edgekit.core.cloud.OpenAiClient;
import dev.edgekit.core.generate.Backend;
import dev.edgekit.core.generate.ChatFormat;
import dev.edgekit.core.generate.GenerationResult;
import dev.edgekit.core.generate.Generator;
import dev.edgekit.core.generate.Sampler;
import dev.edgekit.core.generate.SamplingOptions;
import dev.edgekit.core.generate.TokenInfo;
import dev.edgekit.core.policy.Decision;
import dev.edgekit.core.policy.Policy;
import dev.edgekit.core.policy.Redactor;
import dev.edgekit.core.policy.Signals;
import dev.edgekit.core.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Local first, cloud when the policy says so: the flow of sdk/edgekit/sdk/hybrid.py HybridClient.ask, for the
 * app. Route before generation on the question's signals; generate locally with streaming, where the policy's early
 * model may stop after one of the first tokens and escalate; decide after generation on the answer's signals;
 * escalate with redaction; if the cloud fails, keep the local answer ("fallback", generated whole if it was stopped).
 * No Android or onnxruntime types here: the app passes its onnxruntime Backend, tests pass a scripted one.
 */
public final class Assistant {
    public enum Route { LOCAL, CLOUD, FALLBACK }

    /** Receives the answer as it is produced; {@code restart} means the shown text is replaced (local -> cloud). */
    public interface Listener {
        void onText(String piece);

        void onRestart(Route route, Decision decision);
    }

    /** The final answer with how it was produced. */
    public static final class Answer {
        public final String text;
        public final Route route;
        public final Decision decision;
        public final GenerationResult local; // null when the router sent the question straight to the cloud
        public final String cloudError;
        public final Map<String, Integer> redacted;
        /** Local tokens generated before the policy's early model stopped the answer and escalated (0: it did not). */
        public final int earlyTokens;

        Answer(String text, Route route, Decision decision, GenerationResult local, String cloudError, Map<String, Integer> redacted) {
            this(text, route, decision, local, cloudError, redacted, 0);
        }

        Answer(String text, Route route, Decision decision, GenerationResult local, String cloudError, Map<String, Integer> redacted,
               int earlyTokens) {
            this.text = text;
            this.route = route;
            this.decision = decision;
            this.local = local;
            this.cloudError = cloudError;
            this.redacted = redacted;
            this.earlyTokens = earlyTokens;
        }
    }

    private final BundleManifest manifest;
    private final Tokenizer tokenizer;
    private final Backend backend;
    private final ChatFormat chat;
    private final Policy policy; // null: local only
    private final OpenAiClient cloud; // null: local only
    private final boolean redact;
    private final int maxNewTokens;

    public Assistant(BundleManifest manifest, Tokenizer tokenizer, Backend backend, Policy policy, OpenAiClient cloud,
                     boolean redact) {
        this.manifest = manifest;
        this.tokenizer = tokenizer;
        this.backend = backend;
        this.chat = ChatFormat.forTemplate(manifest.chatTemplate);
        this.policy = policy;
        this.cloud = cloud;
        this.redact = redact;
        // the hybrid client's local default (128 tokens), overridden by the policy's generation options
        Object fromPolicy = policy == null ? null : policy.generation.get("max_new_tokens");
        this.maxNewTokens = fromPolicy instanceof Number ? ((Number) fromPolicy).intValue() : 128;
    }

    int[] promptIds(List<ChatMessage> messages) {
        String text = chat != null ? chat.render(messages, true) : messages.get(messages.size() - 1).content;
        int[] ids = tokenizer.encode(text);
        if (manifest.addBos && manifest.bosId != null && (ids.length == 0 || ids[0] != manifest.bosId)) {
            int[] withBos = new int[ids.length + 1];
            withBos[0] = manifest.bosId;
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            return withBos;
        }
        return ids;
    }

    public Answer ask(List<ChatMessage> messages, Listener listener, AtomicBoolean cancelled) {
        String question = questionOf(messages);
        Map<String, Double> pre = Signals.pre(question);
        Decision decision = policy != null ? policy.route(question, pre) : null;
        if (decision != null && policy.needsProbe(decision)) {
            // the policy's hidden-state probe reads the prompt's state after prefill, before any token is generated
            // (a prompt that does not fit is left to the overflow rule below)
            int[] prompt = promptIds(messages);
            if (prompt.length + 1 <= backend.maxContext()) {
                decision = policy.probeDecision(decision, backend.promptHidden(prompt));
            }
        }
        GenerationResult local = null;
        if (decision == null || !decision.escalate || cloud == null) {
            int[] prompt = promptIds(messages);
            if (prompt.length + 1 > backend.maxContext()) {
                // the runtime's context_policy="signal": nothing generated, the policy escalates on overflow
                Map<String, Double> signals = new HashMap<>(pre);
                signals.put("context_overflow", 1.0);
                decision = policy != null ? policy.decide(familyOf(decision, question), signals) : null;
                if (decision == null || !decision.escalate || cloud == null) {
                    throw new GenerationException("the conversation is " + prompt.length + " tokens and the model holds "
                            + backend.maxContext() + "; start a new chat or configure a cloud");
                }
            } else {
                String family = familyOf(decision, question);
                Generator.Request request = new Generator.Request(prompt, maxNewTokens, new HashSet<>(manifest.eosIds),
                        Collections.<String>emptyList(), 256);
                EarlyWatch early = new EarlyWatch(family, pre);
                local = Generator.runUntil(backend, tokenizer, new Sampler(SamplingOptions.greedy()), request,
                        (piece, token) -> {
                            if (!piece.isEmpty()) {
                                listener.onText(piece);
                            }
                            early.see(token);
                        }, () -> early.stopped != null || (cancelled != null && cancelled.get()));
                if (early.stopped != null) {
                    // the first tokens already showed the answer is not worth finishing: the cloud answers, and the
                    // tokens after the stop were never computed (HybridClient._local's early stop)
                    return escalate(messages, early.stopped, null, listener, early.prefix.size());
                }
                if (policy == null) {
                    return new Answer(local.text, Route.LOCAL, null, local, null, Collections.<String, Integer>emptyMap());
                }
                Map<String, Double> signals = new HashMap<>(pre);
                signals.putAll(Signals.post(local.text, local.tokens, local.finishReason, local.contextOverflow,
                        policy.answerKind(family)));
                decision = policy.decide(family, signals, local.answerHiddenMean);
                if (!decision.escalate || cloud == null) {
                    return new Answer(local.text, Route.LOCAL, decision, local, null, Collections.<String, Integer>emptyMap());
                }
            }
        }
        return escalate(messages, decision, local, listener, 0);
    }

    /**
     * The policy's early model over the answer's first tokens: after each of the first {@code early.max_tokens}, the
     * question's and the prefix's signals may stop generation ({@link Policy#earlyDecision}). Only with a cloud to
     * hand off to: without one, a stop would only make the device generate the answer twice.
     */
    private final class EarlyWatch {
        final String family;
        final Map<String, Double> pre;
        final List<TokenInfo> prefix = new ArrayList<>();
        final boolean active = policy != null && cloud != null && policy.earlyMaxTokens > 0;
        Decision stopped;

        EarlyWatch(String family, Map<String, Double> pre) {
            this.family = family;
            this.pre = pre;
        }

        void see(TokenInfo token) {
            if (!active || token == null || stopped != null || prefix.size() >= policy.earlyMaxTokens) {
                return;
            }
            prefix.add(token);
            Map<String, Double> signals = new HashMap<>(pre);
            signals.putAll(Signals.prefix(prefix));
            Decision d = policy.earlyDecision(family, signals);
            if (d.escalate) {
                stopped = d;
            }
        }
    }

    private String familyOf(Decision decision, String question) {
        return decision != null ? decision.family : (policy != null ? policy.classify(question) : "general");
    }

    private Answer escalate(List<ChatMessage> messages, Decision decision, GenerationResult local, Listener listener,
                            int earlyTokens) {
        Redactor.Redaction redaction = new Redactor.Redaction();
        List<ChatMessage> outgoing = messages;
        if (redact) {
            Redactor redactor = new Redactor();
            outgoing = new ArrayList<>();
            for (ChatMessage m : messages) {
                outgoing.add(new ChatMessage(m.role, redactor.redact(m.content, redaction)));
            }
        }
        Map<String, Integer> kinds = new HashMap<>();
        for (String placeholder : redaction.mapping.keySet()) {
            String kind = placeholder.substring(1, placeholder.indexOf('_')).toLowerCase(java.util.Locale.ROOT);
            kinds.merge(kind, 1, Integer::sum);
        }
        listener.onRestart(Route.CLOUD, decision);
        Redactor.StreamRestorer restorer = new Redactor.StreamRestorer(redaction);
        try {
            OpenAiClient.Reply reply = cloud.stream(outgoing, delta -> {
                String piece = restorer.feed(delta);
                if (!piece.isEmpty()) {
                    listener.onText(piece);
                }
            });
            String tail = restorer.flush();
            if (!tail.isEmpty()) {
                listener.onText(tail);
            }
            return new Answer(redaction.restore(reply.text), Route.CLOUD, decision, local, null, kinds, earlyTokens);
        } catch (EscalationException e) {
            listener.onRestart(Route.FALLBACK, decision);
            if (local == null) {
                int[] prompt = promptIds(messages);
                Generator.Request request = new Generator.Request(prompt, maxNewTokens, new HashSet<>(manifest.eosIds),
                        Collections.<String>emptyList(), 256);
                local = Generator.run(backend, tokenizer, new Sampler(SamplingOptions.greedy()), request,
                        (piece, token) -> {
                            if (!piece.isEmpty()) {
                                listener.onText(piece);
                            }
                        }, null);
            } else {
                listener.onText(local.text);
            }
            return new Answer(local.text, Route.FALLBACK, decision, local, e.getMessage(), kinds, earlyTokens);
        }
    }

    static String questionOf(List<ChatMessage> messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if ("user".equals(messages.get(i).role)) {
                return messages.get(i).content;
            }
        }
        return "";
    }
}
