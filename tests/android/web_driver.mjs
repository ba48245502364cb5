// Drives the web demo in headless Debian Chromium with playwright-core (executablePath /usr/bin/chromium
// and these flags: what works without a GPU or a sandbox). Called by tests/android/test_web_demo.py:
//   node web_driver.mjs JOB.json   ->  one JSON object on stdout (a file: the policy vectors outgrow one argument)
// Job: {webRoot, url, screenshot, questions: [..], vectors: {...}|null, offlineReload: bool, offlineQuestions, timeoutMs,
//       readTools: bool (the page's demo tools), timerWaitMs (read the turns' countdowns again after that wait)}
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const require = createRequire(path.join(job.webRoot, 'package.json')); // playwright-core from the demo's node_modules
const { chromium } = require('playwright-core');

const FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'];
const out = { console: [], requests: [], turns: [], timings: {} };
const t0 = Date.now();
const lap = (name) => { out.timings[name] = (Date.now() - t0) / 1000; };

const browser = await chromium.launch({ executablePath: job.chromium || '/usr/bin/chromium', args: FLAGS });
try {
  const context = await browser.newContext({ viewport: { width: 412, height: 915 }, deviceScaleFactor: 1 }); // a phone-sized window
  const page = await context.newPage();
  page.setDefaultTimeout(job.timeoutMs || 300000);
  page.on('console', (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => out.console.push(`pageerror: ${e.message}`));
  page.on('request', (r) => {
    if (r.method() === 'POST') out.requests.push({ url: r.url(), body: r.postData() });
  });

  const waitReady = async () => {
    await page.waitForFunction(() => window.edgekitApp && window.edgekitApp.ready, null);
    await page.evaluate(() => window.edgekitApp.ready);
  };
  const askAll = async (questions) => {
    const turns = [];
    for (const question of questions) {
      const before = await page.locator('article.turn').count();
      await page.fill('#question', question);
      await page.click('#send');
      const turn = page.locator('article.turn').nth(before);
      await turn.locator('xpath=self::*[@data-done="1"]').waitFor();
      turns.push(await turn.evaluate((el) => ({
        question: el.querySelector('.question').textContent,
        answer: el.querySelector('.answer').textContent,
        route: el.dataset.route || null,
        rule: el.dataset.rule || null,
        tokenIds: el.dataset.tokenIds ? JSON.parse(el.dataset.tokenIds) : null,
        promptIds: el.dataset.promptIds ? JSON.parse(el.dataset.promptIds) : null,
        finish: el.dataset.finish || null,
        redacted: el.dataset.redacted ? JSON.parse(el.dataset.redacted) : null,
        cloudError: el.dataset.cloudError || null,
        earlyTokens: el.dataset.earlyTokens ? Number(el.dataset.earlyTokens) : null,
        probability: el.dataset.probability ? Number(el.dataset.probability) : null,
        probe: el.dataset.probe ? Number(el.dataset.probe) : null,
        answerProbe: el.dataset.answerProbe ? el.dataset.answerProbe.split(' ').map(Number) : null,
        toolCalls: el.dataset.toolCalls ? JSON.parse(el.dataset.toolCalls) : null,
        toolOutputs: el.dataset.toolOutputs ? JSON.parse(el.dataset.toolOutputs) : null,
        toolSource: el.dataset.toolSource || null,
        ranBy: el.dataset.ranBy ? el.dataset.ranBy.split(' ') : [],
        followUp: el.dataset.followUp ?? null,
        followUpPromptIds: el.dataset.followUpPromptIds ? JSON.parse(el.dataset.followUpPromptIds) : null,
        followUpTokenIds: el.dataset.followUpTokenIds ? JSON.parse(el.dataset.followUpTokenIds) : null,
        timersLeft: [...el.querySelectorAll('.timer')].map((t) => Number(t.dataset.left)),
        error: el.dataset.error || null,
        meta: el.querySelector('.meta').textContent,
      })));
    }
    return turns;
  };

  await page.goto(job.url);
  await waitReady();
  lap('model_ready');
  out.status = await page.textContent('#status-text');
  out.turns = await askAll(job.questions || []);
  lap('answered');
  if (job.readTools) out.tools = await page.evaluate(() => window.edgekitApp.tools);
  if (job.timerWaitMs) {
    // a timer really runs: read the countdowns again after a wait
    await page.waitForTimeout(job.timerWaitMs);
    out.timersLater = await page.evaluate(() => [...document.querySelectorAll('article.turn')].map(
      (el) => [...el.querySelectorAll('.timer')].map((t) => Number(t.dataset.left))));
  }
  if (job.screenshot) {
    await page.screenshot({ path: job.screenshot, fullPage: true });
  }
  if (job.vectors) {
    // the demo's own modules, run on reference data the Python side made
    out.vectors = await page.evaluate(async (v) => {
      const { Policy, decideVector } = await import('./js/policy.js');
      const { preSignals, postSignals } = await import('./js/signals.js');
      const { Redactor } = await import('./js/redaction.js');
      const res = {};
      // a vector's answer state: base64 little-endian float32 (vectors.py), null when it has none
      const state = (b64) => (b64 ? new Float32Array(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)).buffer) : null);
      if (v.policy) {
        const policy = new Policy(v.policy.policy, 'policy_vectors.json');
        res.policy = v.policy.vectors.map((c) => decideVector(policy, c.question, c.signals, c.privacy, null, state(c.answer_hidden)));
        res.early = (v.policy.early_vectors || []).map((c) => policy.earlyDecision(policy.classify(c.question), c.signals));
      }
      if (v.probe) {
        const policy = new Policy(v.probe.policy, 'probe vectors');
        res.probe = v.probe.vectors.map((c) => decideVector(policy, c.question, c.signals, c.privacy, c.hidden, state(c.answer_hidden)));
      }
      if (v.signals) {
        res.signals = v.signals.map((c) => ({ pre: preSignals(c.question), post: postSignals(c.result, c.answer_kind) }));
      }
      if (v.redaction) {
        res.redaction = v.redaction.map((text) => {
          const [redacted, r] = new Redactor().redact(text);
          return { redacted, mapping: Object.fromEntries(r.mapping) };
        });
      }
      if (v.grammar) {
        // the call grammar on a call's own tokens: allowed at each step, and complete only after the last one
        const m = window.edgekitApp.model;
        const plan = await m.toolPlan('x', { tools: v.grammar.tools, tool_choice: 'required' });
        const matcher = await m.grammar.matcher(plan.grammar, m.manifest.architecture.vocab_size, 'edgekit_root');
        res.grammar = [];
        for (const id of m.tokenizer.encode(v.grammar.text, { add_special_tokens: false }).ids) {
          const allowed = (await matcher.allowed())[id] === 1;
          matcher.consume(id);
          res.grammar.push({ id, allowed, finished: await matcher.finished() });
        }
        const after = await matcher.allowed();
        res.grammarAfter = { allowed: [...after.keys()].filter((i) => after[i]), eos: m.manifest.tokenizer.eos_ids };
        matcher.dispose();
      }
      if (v.tokenizer) {
        const m = window.edgekitApp.model;
        res.tokenizer = v.tokenizer.map((text) => m.tokenizer.encode(text, { add_special_tokens: false }).ids);
      }
      return res;
    }, job.vectors);
    lap('vectors');
  }
  if (job.offlineReload) {
    // works offline once loaded: the service worker serves the app, the libraries and the bundle
    await page.evaluate(() => navigator.serviceWorker.ready);
    await context.setOffline(true);
    await page.reload();
    await waitReady();
    out.offline = { status: await page.textContent('#status-text'), turns: await askAll(job.offlineQuestions || job.questions || []) };
    await context.setOffline(false);
    lap('offline');
  }
} catch (err) {
  out.error = String(err && err.stack || err);
} finally {
  out.browser = browser.version();
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
