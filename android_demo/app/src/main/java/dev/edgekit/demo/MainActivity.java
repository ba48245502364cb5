package dev.edgekit.demo;

import android.app.Activity;
import android.app.AlertDialog;
import android.content.SharedPreferences;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.text.InputType;
import android.widget.Button;
import android.widget.CheckBox;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.ScrollView;
import android.widget.TextView;
import dev.edgekit.core.Assistant;
import dev.edgekit.core.EdgekitException;
import dev.edgekit.core.bundle.BundleManifest;
import dev.edgekit.core.bundle.FolderSource;
import dev.edgekit.core.cloud.ChatMessage;
import dev.edgekit.core.cloud.OpenAiClient;
import dev.edgekit.core.policy.Decision;
import dev.edgekit.core.policy.Policy;
import dev.edgekit.core.tokenizer.Tokenizer;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Collections;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * One screen: the conversation, a question box, and settings (bundle folder, cloud URL/model/key, redaction).
 * Loading and generation run on one background thread; streamed text is posted to the UI thread. The hybrid flow
 * (local first, policy, redaction, cloud, fallback) is the core's Assistant, the same logic the host tests check.
 */
public final class MainActivity extends Activity {
    private static final String PREFS = "edgekit";

    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final Handler ui = new Handler(Looper.getMainLooper());
    private TextView status;
    private TextView conversation;
    private ScrollView scroll;
    private EditText question;
    private Button send;
    private Assistant assistant;
    private OnnxBackend backend;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        status = findViewById(R.id.status);
        conversation = findViewById(R.id.conversation);
        scroll = findViewById(R.id.scroll);
        question = findViewById(R.id.question);
        send = findViewById(R.id.send);
        send.setOnClickListener(v -> ask());
        ((Button) findViewById(R.id.settings)).setOnClickListener(v -> showSettings());
        load();
    }

    @Override
    protected void onDestroy() {
        worker.shutdownNow();
        if (backend != null) {
            backend.close();
        }
        super.onDestroy();
    }

    private SharedPreferences prefs() {
        return getSharedPreferences(PREFS, MODE_PRIVATE);
    }

    private void setStatus(String text) {
        ui.post(() -> status.setText(text));
    }

    private void load() {
        send.setEnabled(false);
        setStatus("Loading the model…");
        worker.execute(() -> {
            try {
                File folder = new File(prefs().getString("bundle", BundleFolder.defaultFolder(this).getPath()));
                if (!new File(folder, BundleManifest.MANIFEST_NAME).isFile()) {
                    File fromAssets = BundleFolder.fromAssets(this);
                    if (fromAssets != null) {
                        folder = fromAssets;
                    }
                }
                long t0 = System.nanoTime();
                FolderSource source = new FolderSource(folder.toPath());
                BundleManifest manifest = BundleManifest.read(source);
                setStatus("Checking the bundle's checksums…");
                manifest.verify(source, true);
                Tokenizer tokenizer = Tokenizer.fromFile(source.resolve(manifest.tokenizerFile));
                int threads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
                if (backend != null) {
                    backend.close();
                }
                backend = new OnnxBackend(source.resolve(manifest.onnxGraph().modelFile).toString(), manifest, threads);
                File policyFile = new File(folder, "policy.json");
                Policy policy = policyFile.isFile()
                        ? Policy.parse(new String(Files.readAllBytes(policyFile.toPath()), StandardCharsets.UTF_8), policyFile.getPath())
                        : null;
                String cloudUrl = prefs().getString("cloudUrl", "");
                OpenAiClient cloud = cloudUrl.isEmpty() ? null : new OpenAiClient(cloudUrl, prefs().getString("cloudModel", ""),
                        prefs().getString("cloudKey", ""), null, 10_000, 60_000, 1);
                assistant = new Assistant(manifest, tokenizer, backend, policy, cloud, prefs().getBoolean("redact", true));
                double seconds = (System.nanoTime() - t0) / 1e9;
                setStatus(String.format(Locale.ROOT, "Ready: %s in %.1f s · %s · %s", manifest.modelName, seconds,
                        policy != null ? "policy loaded" : "no policy.json: local only", cloud != null ? "cloud set" : "no cloud"));
                ui.post(() -> send.setEnabled(true));
            } catch (EdgekitException e) {
                setStatus("Could not load the bundle: " + e.getMessage());
            } catch (Exception e) {
                setStatus("Could not load the bundle: " + e);
            }
        });
    }

    private void append(String text) {
        conversation.append(text);
        scroll.post(() -> scroll.fullScroll(ScrollView.FOCUS_DOWN));
    }

    private void ask() {
        String q = question.getText().toString().trim();
        if (q.isEmpty() || assistant == null) {
            return;
        }
        question.setText("");
        send.setEnabled(false);
        append("\n\nYou: " + q + "\n");
        final int[] answerStart = {conversation.length()};
        worker.execute(() -> {
            try {
                Assistant.Answer answer = assistant.ask(Collections.singletonList(new ChatMessage("user", q)),
                        new Assistant.Listener() {
                            @Override
                            public void onText(String piece) {
                                ui.post(() -> append(piece));
                            }

                            @Override
                            public void onRestart(Assistant.Route route, Decision decision) {
                                ui.post(() -> {
                                    // the local answer is superseded: drop what was shown, say why
                                    CharSequence all = conversation.getText();
                                    conversation.setText(all.subSequence(0, Math.min(all.length(), answerStart[0])));
                                    append("[" + route.name().toLowerCase(Locale.ROOT) + ": " + decision.rule + "]\n");
                                    answerStart[0] = conversation.length();
                                });
                            }
                        }, null);
                String meta = answer.local != null
                        ? String.format(Locale.ROOT, "%s · confidence %.0f%% · %.1f tok/s", answer.route.name().toLowerCase(Locale.ROOT),
                                100 * Math.exp(answer.local.confidence.meanLogprob), answer.local.decodeTokensPerSecond())
                        : answer.route.name().toLowerCase(Locale.ROOT);
                ui.post(() -> append("\n(" + meta + (answer.decision != null ? " · " + answer.decision.rule : "") + ")"));
            } catch (EdgekitException e) {
                ui.post(() -> append("\nError: " + e.getMessage()));
            } finally {
                ui.post(() -> send.setEnabled(true));
            }
        });
    }

    private void showSettings() {
        SharedPreferences p = prefs();
        LinearLayout form = new LinearLayout(this);
        form.setOrientation(LinearLayout.VERTICAL);
        form.setPadding(32, 16, 32, 0);
        EditText bundle = field(form, getString(R.string.bundle_path), p.getString("bundle", BundleFolder.defaultFolder(this).getPath()), false);
        EditText url = field(form, getString(R.string.cloud_url), p.getString("cloudUrl", ""), false);
        EditText model = field(form, getString(R.string.cloud_model), p.getString("cloudModel", ""), false);
        EditText key = field(form, getString(R.string.cloud_key), p.getString("cloudKey", ""), true);
        CheckBox redact = new CheckBox(this);
        redact.setText(R.string.redact);
        redact.setChecked(p.getBoolean("redact", true));
        form.addView(redact);
        new AlertDialog.Builder(this)
                .setTitle(R.string.settings)
                .setView(form)
                .setPositiveButton(R.string.save, (d, w) -> {
                    p.edit()
                            .putString("bundle", bundle.getText().toString().trim())
                            .putString("cloudUrl", url.getText().toString().trim())
                            .putString("cloudModel", model.getText().toString().trim())
                            .putString("cloudKey", key.getText().toString())
                            .putBoolean("redact", redact.isChecked())
                            .apply();
                    load();
                })
                .setNegativeButton(android.R.string.cancel, null)
                .show();
    }

    private EditText field(LinearLayout form, String label, String value, boolean secret) {
        TextView title = new TextView(this);
        title.setText(label);
        form.addView(title);
        EditText edit = new EditText(this);
        edit.setText(value);
        edit.setSingleLine(true);
        if (secret) {
            edit.setInputType(InputType.TYPE_CLASS_TEXT | InputType.TYPE_TEXT_VARIATION_PASSWORD);
        }
        form.addView(edit);
        return edit;
    }
}
