package dev.edgekit.core.generate;

import dev.edgekit.core.GenerationException;
import dev.edgekit.core.tokenizer.StreamDecoder;
import dev.edgekit.core.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The generation loop of runtime/edgekit/runtime/generation.py, in Java: prefill the prompt in chunks, then
 * sample, detokenize, check stops, forward one token, until eos, a stop string, max_new_tokens or the end of the
 * context. Same rules: eos is not part of the ids or the text; a stop string cuts the text before it; text that could
 * still become a stop string is held back from the stream; streamed pieces never split a UTF-8 character, and their
 * concatenation equals the result's text.
 */
public final class Generator {
    /** Receives text as it becomes final; called on the generating thread. */
    public interface Listener {
        void onText(String piece, TokenInfo token);
    }

    /** What to generate. */
    public static final class Request {
        public final int[] promptIds;
        public final int maxNewTokens;
        public final Set<Integer> eosIds;
        public final List<String> stop;
        public final int prefillChunk;

        public Request(int[] promptIds, int maxNewTokens, Set<Integer> eosIds, List<String> stop, int prefillChunk) {
            if (promptIds.length == 0) {
                throw new GenerationException("the prompt is empty; give the model at least one token");
            }
            if (maxNewTokens < 1) {
                throw new GenerationException("max_new_tokens=" + maxNewTokens + " is invalid: use a positive integer");
            }
            this.promptIds = promptIds;
            this.maxNewTokens = maxNewTokens;
            this.eosIds = eosIds;
            this.stop = stop;
            this.prefillChunk = Math.max(1, prefillChunk);
        }
    }

    private Generator() {
    }

    public static GenerationResult run(Backend backend, Tokenizer tokenizer, Sampler sampler, Request request,
                                       Listener listener, java.util.concurrent.atomic.AtomicBoolean cancelled) {
        return runUntil(backend, tokenizer, sampler, request, listener, cancelled == null ? null : cancelled::get);
    }

    /**
     * As above; {@code stop} is asked after each token (after the listener saw it) whether to end now, so a caller
     * can stop on what the listener saw (the hybrid flow's early hand-off), and no further forward is computed.
     */
    public static GenerationResult runUntil(Backend backend, Tokenizer tokenizer, Sampler sampler, Request request,
                                            Listener listener, java.util.function.BooleanSupplier stop) {
        int[] prompt = request.promptIds;
        if (prompt.length + 1 > backend.maxContext()) {
            throw new GenerationException("the prompt is " + prompt.length + " tokens and the model's context holds "
                    + backend.maxContext() + "; shorten the conversation");
        }
        backend.reset();
        long t0 = System.nanoTime();
        float[] logits = null;
        for (int begin = 0; begin < prompt.length; begin += request.prefillChunk) {
            int end = Math.min(prompt.length, begin + request.prefillChunk);
            int[] chunk = new int[end - begin];
            System.arraycopy(prompt, begin, chunk, 0, chunk.length);
            logits = backend.forward(chunk);
        }
        double prefillMs = (System.nanoTime() - t0) / 1e6;

        List<String> stops = new ArrayList<>();
        int maxStop = 0;
        for (String s : request.stop) {
            if (s != null && !s.isEmpty()) {
                stops.add(s);
                maxStop = Math.max(maxStop, s.length());
            }
        }
        StreamDecoder detok = tokenizer.streamDecoder(true);
        Set<Integer> history = new HashSet<>();
        for (int id : prompt) {
            history.add(id);
        }
        List<Integer> ids = new ArrayList<>();
        List<TokenInfo> tokens = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        int emitted = 0;
        FinishReason finish = FinishReason.LENGTH;
        long decodeStart = System.nanoTime();
        double[] hiddenSum = null; // the states that drew the generated tokens (one vector add per token)

        while (true) {
            Sampler.Choice choice = sampler.sample(logits, history);
            if (request.eosIds.contains(choice.token)) {
                finish = FinishReason.EOS;
                break;
            }
            ids.add(choice.token);
            history.add(choice.token);
            float[] drew = backend.lastHidden();
            if (drew != null) {
                if (hiddenSum == null) {
                    hiddenSum = new double[drew.length];
                }
                for (int i = 0; i < drew.length; i++) {
                    hiddenSum[i] += drew[i];
                }
            }
            String piece = detok.push(choice.token);
            TokenInfo info = new TokenInfo(choice.token, piece, choice.logprob, choice.entropy);
            tokens.add(info);
            int before = text.length();
            text.append(piece);
            int safe = text.length();
            if (!stops.isEmpty()) {
                int hit = piece.isEmpty() ? -1 : findStop(text, stops, Math.max(0, before - maxStop + 1));
                if (hit >= 0) {
                    text.setLength(hit);
                    if (listener != null && hit > emitted) {
                        listener.onText(text.substring(emitted), info);
                    }
                    emitted = text.length();
                    finish = FinishReason.STOP;
                    break;
                }
                safe -= stopHoldback(text, stops);
            }
            if (listener != null) {
                listener.onText(safe > emitted ? text.substring(emitted, safe) : "", info);
            }
            emitted = Math.max(emitted, safe);
            if (ids.size() >= request.maxNewTokens) {
                finish = FinishReason.LENGTH;
                break;
            }
            if (stop != null && stop.getAsBoolean()) {
                finish = FinishReason.STOP;
                break;
            }
            if (backend.length() + 1 > backend.maxContext()) {
                finish = FinishReason.CONTEXT;
                break;
            }
            logits = backend.forward(new int[] {choice.token});
        }
        if (finish != FinishReason.STOP) {
            text.append(detok.flush());
            if (listener != null && text.length() > emitted) {
                listener.onText(text.substring(emitted), null);
            }
        }
        double decodeMs = ids.isEmpty() ? 0 : (System.nanoTime() - decodeStart) / 1e6;
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i);
        }
        float[] mean = null;
        if (hiddenSum != null) {
            mean = new float[hiddenSum.length];
            for (int i = 0; i < mean.length; i++) {
                mean[i] = (float) (hiddenSum[i] / out.length);
            }
        } else if (out.length == 0 && backend.lastHidden() != null) {
            mean = backend.lastHidden().clone(); // nothing generated: the state that drew eos
        }
        return new GenerationResult(text.toString(), out, finish, prompt.length, tokens, prefillMs, decodeMs, false, mean);
    }

    /** Length of the longest tail of {@code text} that is a proper prefix of a stop string. */
    static int stopHoldback(CharSequence text, List<String> stops) {
        int best = 0;
        String s = text.toString();
        for (String stop : stops) {
            for (int n = Math.min(stop.length() - 1, s.length()); n > best; n--) {
                if (s.endsWith(stop.substring(0, n))) {
                    best = n;
                    break;
                }
            }
        }
        return best;
    }

    private static int findStop(CharSequence text, List<String> stops, int start) {
        String s = text.toString();
        int best = -1;
        for (String stop : stops) {
            int i = s.indexOf(stop, start);
            if (i >= 0 && (best < 0 || i < best)) {
                best = i;
            }
        }
        return best;
    }
}
