package dev.edgekit.core.policy;

import dev.edgekit.core.generate.Confidence;
import dev.edgekit.core.generate.FinishReason;
import dev.edgekit.core.generate.TokenInfo;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The signals the policy reads: a port of sdk/edgekit/sdk/policy/signals.py (the names and formulas are the
 * contract with the policy file). Pre-generation signals come from the question, post-generation signals from
 * the local answer's tokens, finish reason and context overflow.
 */
public final class Signals {
    private static final Pattern NUM = Pattern.compile("\\d+(?:[.,]\\d+)*", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern ARITH = Pattern.compile("\\d\\s*[-+*/x×÷^]\\s*\\d", Pattern.UNICODE_CHARACTER_CLASS);

    private Signals() {
    }

    /** The text the router looks at: the last user message. */
    public static String questionOf(List<Map<String, String>> messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            Map<String, String> m = messages.get(i);
            if ("user".equals(m.get("role")) && m.get("content") != null) {
                return m.get("content");
            }
        }
        return "";
    }

    static int digits(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            if (Character.isDigit(cp)) {
                n++;
            }
            i += Character.charCount(cp);
        }
        return n;
    }

    public static Map<String, Double> pre(String question) {
        Matcher m = NUM.matcher(question);
        int count = 0;
        int maxLen = 0;
        while (m.find()) {
            count++;
            maxLen = Math.max(maxLen, digits(m.group()));
        }
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("question_chars", (double) question.codePointCount(0, question.length())); // Python len(): code points
        out.put("n_digits", (double) digits(question));
        out.put("n_numbers", (double) count);
        out.put("max_number_len", (double) maxLen);
        out.put("has_arith_op", ARITH.matcher(question).find() ? 1.0 : 0.0);
        return out;
    }

    /** Indices [i, j) of the tokens whose text overlaps characters [start, end) of the joined text. */
    static int[] answerTokenRange(List<TokenInfo> tokens, int start, int end) {
        int pos = 0;
        int first = -1;
        int last = -1;
        for (int i = 0; i < tokens.size(); i++) {
            String text = tokens.get(i).text;
            int tStart = pos;
            pos += text.length();
            if (pos > start && tStart < end && !text.isEmpty()) {
                if (first == -1) {
                    first = i;
                }
                last = i;
            }
        }
        return first != -1 ? new int[] {first, last + 1} : new int[] {0, 0};
    }

    /** Post-generation signals of one local answer; answerKind "number", "entity", "yesno" or null. */
    public static Map<String, Double> post(String text, List<TokenInfo> tokens, FinishReason finish,
                                           boolean contextOverflow, String answerKind) {
        Confidence conf = Confidence.summarize(tokens);
        StringBuilder joined = new StringBuilder();
        for (TokenInfo t : tokens) {
            joined.append(t.text);
        }
        String full = joined.length() > 0 ? joined.toString() : text;
        Answers.Span span = answerKind != null ? Answers.find(answerKind, full) : null;
        double answerLp = conf.minLogprob;
        double firstLp = conf.minLogprob;
        if (span != null) {
            int[] range = answerTokenRange(tokens, span.start, span.end);
            if (range[1] > range[0]) {
                double sum = 0;
                for (int k = range[0]; k < range[1]; k++) {
                    sum += tokens.get(k).logprob;
                }
                answerLp = sum / (range[1] - range[0]);
                firstLp = tokens.get(range[0]).logprob;
            }
        }
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("mean_logprob", conf.meanLogprob);
        out.put("min_logprob", conf.minLogprob);
        out.put("mean_entropy", conf.meanEntropy);
        out.put("max_window_entropy", conf.maxWindowEntropy);
        out.put("answer_logprob", answerLp);
        out.put("answer_first_logprob", firstLp);
        out.put("gen_tokens", (double) tokens.size());
        out.put("truncated", finish == FinishReason.LENGTH ? 1.0 : 0.0);
        out.put("has_answer", span != null ? 1.0 : 0.0);
        out.put("context_overflow", contextOverflow ? 1.0 : 0.0);
        // -inf logprobs (a token drawn at probability 0) would break standardisation (signals.py does the same)
        for (Map.Entry<String, Double> e : out.entrySet()) {
            if (Double.isInfinite(e.getValue()) || Double.isNaN(e.getValue())) {
                e.setValue(-50.0);
            }
        }
        return out;
    }

    /** The answer prefix's signals for the early model (sdk/edgekit/sdk/policy/early.py prefix_signals). */
    public static Map<String, Double> prefix(List<TokenInfo> tokens) {
        double sumLp = 0, minLp = Double.POSITIVE_INFINITY, sumEnt = 0, maxEnt = Double.NEGATIVE_INFINITY;
        for (TokenInfo t : tokens) {
            double lp = Math.max(t.logprob, -50.0);  // as post(): a -inf logprob would break standardisation
            sumLp += lp;
            minLp = Math.min(minLp, lp);
            sumEnt += t.entropy;
            maxEnt = Math.max(maxEnt, t.entropy);
        }
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("prefix_tokens", (double) tokens.size());
        out.put("prefix_mean_logprob", sumLp / tokens.size());
        out.put("prefix_min_logprob", minLp);
        out.put("prefix_mean_entropy", sumEnt / tokens.size());
        out.put("prefix_max_entropy", maxEnt);
        return out;
    }
}
