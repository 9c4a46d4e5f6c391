// End to end on MDLM and SEDD: a running dllm server with a tiny random DiT
// model (tests/ref/make_dit_models.py) generates and fills canvases through
// the HTTP API with each sampler (mdlm, euler, analytic).
// Usage: node tests/http/mdlm_sedd.mjs PORT FAMILY [uniform]
//   FAMILY: mdlm or sedd (which rule "auto" must pick); uniform: the model
//   uses SEDD's uniform graph (euler and analytic; mdlm is refused; spans
//   hold tokens from the start, so frames show no mask and the text comes
//   only with the final step).
// Prints "ok NAME" / "FAIL NAME: why" lines; tests/suite_mdlm_sedd.sh counts them.
const port = Number(process.argv[2]);
const family = process.argv[3];
const uniform = process.argv[4] === 'uniform';
const base = `http://127.0.0.1:${port}/v1/completions`;

function ok(name) { console.log(`ok   ${name}`); }
function fail(name, why) { console.log(`FAIL ${name}: ${String(why).slice(0, 400)}`); }
async function check(name, fn) {
  try {
    const why = await fn();
    if (why) fail(name, why); else ok(name);
  } catch (e) { fail(name, `threw ${e.message}`); }
}

async function post(body) {
  const res = await fetch(base, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let j = null;
  try { j = JSON.parse(text); } catch (_) { /* SSE */ }
  return { status: res.status, j, text };
}

function badParam(r, param) {
  if (r.status !== 400) return `status ${r.status}: ${r.text.slice(0, 200)}`;
  if (!r.j || !r.j.error || r.j.error.param !== param) return `param ${r.j && r.j.error && r.j.error.param}: ${r.text.slice(0, 200)}`;
  return '';
}

const canvas = [{ mask: 3 }, { text: ' the earth ' }, { mask: 5 }, { text: 'and' }, { mask: 2 }];

if (uniform) {
  await check(`${family} uniform graph: mdlm is refused, naming remasking`, async () =>
    badParam(await post({ prompt: 'the', max_tokens: 4, remasking: 'mdlm' }), 'remasking'));
}

for (const rule of uniform ? ['euler', 'analytic'] : ['mdlm', 'euler', 'analytic']) {
  const tag = `${family}/${rule}`;
  await check(`${tag}: completion`, async () => {
    const r = await post({ prompt: 'the earth', max_tokens: 12, steps: 16, remasking: rule, seed: 3 });
    if (r.status !== 200) return `status ${r.status}: ${r.text.slice(0, 200)}`;
    const c = r.j.choices[0];
    if (typeof c.text !== 'string' || !['stop', 'length'].includes(c.finish_reason)) return JSON.stringify(c);
    return r.j.usage.prompt_tokens > 0 ? '' : JSON.stringify(r.j.usage);
  });

  let alone = null;
  await check(`${tag}: fill in the blanks keeps the given text and fills every span`, async () => {
    const r = await post({ canvas, steps: 20, remasking: rule, seed: 5 });
    if (r.status !== 200) return `status ${r.status}: ${r.text.slice(0, 200)}`;
    const c = r.j.choices[0];
    if (c.canvas.length !== 5 || c.canvas[1].text !== ' the earth ' || c.canvas[3].text !== 'and') return JSON.stringify(c.canvas);
    if (c.canvas[0].mask !== 3 || c.canvas[2].mask !== 5 || c.canvas[4].mask !== 2) return 'span lengths';
    if (c.spans.length !== 3 || c.spans.join('') !== c.text) return `spans ${JSON.stringify(c.spans)} text ${JSON.stringify(c.text)}`;
    alone = r.j.choices[0];
    return '';
  });

  await check(`${tag}: the same request among others gives the same canvas (batch invariance)`, async () => {
    const others = [
      post({ prompt: 'abc', max_tokens: 30, steps: 7, remasking: rule, seed: 11 }),
      post({ canvas: [{ text: 'x' }, { mask: 40 }], steps: 25, remasking: rule, seed: 12 }),
      post({ prompt: 'the', max_tokens: 9, steps: 30, remasking: rule, seed: 13, n: 2 }),
    ];
    const mine = post({ canvas, steps: 20, remasking: rule, seed: 5 });
    const [r] = await Promise.all([mine, ...others]);
    if (r.status !== 200 || !alone) return `status ${r.status}`;
    const a = JSON.stringify(alone.canvas), b = JSON.stringify(r.j.choices[0].canvas);
    return a === b ? '' : `alone ${a} vs among others ${b}`;
  });

  if (uniform) await check(`${tag}: streamed frames show tokens everywhere, given text fixed, text only after the final step`, async () => {
    const r = await post({ canvas, steps: 20, remasking: rule, seed: 5, stream: true, frames: true });
    if (r.status !== 200) return `status ${r.status}`;
    const data = r.text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
    const frames = data.filter((d) => d.object === 'dllm.frame');
    if (frames.length !== 21) return `${frames.length} frames (want 20 + the final step)`;
    const spans = frames[0].spans;
    const inSpan = (p) => spans.some(([s, e]) => p >= s && p < e);
    const givenOf = (f) => JSON.stringify(f.tokens.filter((t, p) => !inSpan(p)));
    const given = givenOf(frames[0]);
    let moved = 0;
    for (const [k, f] of frames.entries()) {
      if (f.masked.some((v) => v)) return `frame ${k} has a masked position`;
      if (f.tokens.some((t) => typeof t !== 'string')) return `frame ${k} has a token that is not text`;
      if (givenOf(f) !== given) return `frame ${k}: the given text changed`;
      if ((f.fresh || []).some((p) => !inSpan(p))) return `frame ${k}: a given position moved`;
      moved += (f.fresh || []).length;
    }
    if (!moved) return 'no token ever moved';
    const lastFrame = data.indexOf(frames[frames.length - 1]);
    const early = data.slice(0, lastFrame).filter((d) => d.object === 'text_completion' && d.choices[0] && d.choices[0].text);
    if (early.length) return `text before the final step: ${JSON.stringify(early[0])}`;
    const last = data.filter((d) => d.object === 'text_completion').map((d) => d.choices[0]).filter((c) => c && c.finish_reason).pop();
    if (!last || JSON.stringify(last.canvas) !== JSON.stringify(alone && alone.canvas)) return 'streamed canvas differs from the plain one';
    return '';
  });

  if (!uniform) await check(`${tag}: streamed frames: given tokens never masked, masks only go down, none at the end`, async () => {
    const r = await post({ canvas, steps: 20, remasking: rule, seed: 5, stream: true, frames: true });
    if (r.status !== 200) return `status ${r.status}`;
    const data = r.text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
    const frames = data.filter((d) => d.object === 'dllm.frame');
    if (!frames.length) return 'no frames';
    const spans = frames[0].spans;
    if (spans.length !== 3) return `spans ${JSON.stringify(spans)}`;
    const inSpan = (p) => spans.some(([s, e]) => p >= s && p < e);
    let prev = Infinity;
    for (const f of frames) {
      const m = f.masked.reduce((a, b) => a + b, 0);
      if (m > prev) return `masked went up to ${m}`;
      prev = m;
      if (f.masked.some((v, p) => v && !inSpan(p))) return 'a given position is masked';
      if (f.steps !== 21) return `steps ${f.steps} (want 20 + the final step)`;
    }
    if (prev !== 0) return `${prev} still masked at the end`;
    const last = data.filter((d) => d.object === 'text_completion').map((d) => d.choices[0]).filter((c) => c && c.finish_reason).pop();
    if (!last || JSON.stringify(last.canvas) !== JSON.stringify(alone && alone.canvas)) return 'streamed canvas differs from the plain one';
    return '';
  });

  await check(`${tag}: t_eps is taken, and out of (0, 1) is a 400 naming it`, async () => {
    const r = await post({ canvas, steps: 8, remasking: rule, seed: 1, t_eps: 0.01 });
    if (r.status !== 200) return `t_eps 0.01: status ${r.status}`;
    return badParam(await post({ canvas, remasking: rule, t_eps: 0 }), 't_eps') ||
           badParam(await post({ canvas, remasking: rule, t_eps: 1 }), 't_eps');
  });
}

await check(`${family}: auto is ${family === 'mdlm' ? 'mdlm' : 'analytic'}`, async () => {
  const want = family === 'mdlm' ? 'mdlm' : 'analytic';
  const a = await post({ canvas, steps: 12, seed: 8 });
  const b = await post({ canvas, steps: 12, seed: 8, remasking: want });
  if (a.status !== 200 || b.status !== 200) return `status ${a.status} ${b.status}`;
  return JSON.stringify(a.j.choices[0].canvas) === JSON.stringify(b.j.choices[0].canvas) ? '' : 'auto differs';
});

await check(`${family}: LLaDA and Dream rules are refused, naming remasking`, async () =>
  badParam(await post({ prompt: 'the', remasking: 'low_confidence' }), 'remasking') ||
  badParam(await post({ canvas, remasking: 'entropy' }), 'remasking'));

await check(`${family}: block_length and threshold are refused, naming them`, async () =>
  badParam(await post({ prompt: 'the', max_tokens: 8, block_length: 4 }), 'block_length') ||
  badParam(await post({ prompt: 'the', threshold: 0.9 }), 'threshold'));

await check(`${family}: a canvas longer than the model's context is a 400 naming canvas`, async () =>
  badParam(await post({ canvas: [{ mask: 200 }, { text: 'x' }, { mask: 200 }] }), 'canvas'));
