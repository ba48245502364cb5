package dev.edgekit.core.tokenizer;

/** One entry of tokenizer.json "added_tokens" (special tokens and user-added words). */
public final class AddedToken {
    public final int id;
    public final String content;
    public final boolean special;
    final boolean singleWord;
    final boolean lstrip;
    final boolean rstrip;
    final boolean normalized;

    AddedToken(int id, String content, boolean special, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized) {
        this.id = id;
        this.content = content;
        this.special = special;
        this.singleWord = singleWord;
        this.lstrip = lstrip;
        this.rstrip = rstrip;
        this.normalized = normalized;
    }
}
