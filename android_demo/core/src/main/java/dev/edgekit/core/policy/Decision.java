package dev.edgekit.core.policy;

/** What the policy decided, and why (Python: edgekit.sdk.policy.policy.Decision). */
public final class Decision {
    public final boolean escalate;
    public final String stage; // "privacy", "router", "post"
    public final String rule; // e.g. "router:rule:long_prompt", "post:model:arithmetic", "post:accept"
    public final String family;
    public final Double probability;
    public final Double threshold;

    Decision(boolean escalate, String stage, String rule, String family, Double probability, Double threshold) {
        this.escalate = escalate;
        this.stage = stage;
        this.rule = rule;
        this.family = family;
        this.probability = probability;
        this.threshold = threshold;
    }

    Decision(boolean escalate, String stage, String rule, String family) {
        this(escalate, stage, rule, family, null, null);
    }

    @Override
    public String toString() {
        return (escalate ? "escalate" : "local") + " by " + rule + " (" + family
                + (probability != null ? String.format(", p=%.3f >= %.3f?", probability, threshold) : "") + ")";
    }
}
