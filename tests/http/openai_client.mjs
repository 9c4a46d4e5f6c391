// The official openai SDK against a running dllm server: chat and
// completions, streamed and not, the frames extension (which the SDK must
// pass over), and an error surfacing as the SDK's own error class.
// Usage: node tests/http/openai_client.mjs PORT [API_KEY]
// Prints "ok NAME" / "FAIL NAME: why" lines; the calling suite counts them.
import OpenAI from 'openai';

const port = Number(process.argv[2]);
const apiKey = process.argv[3] || 'unused';
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey, maxRetries: 0, timeout: 60000 });

let failed = 0;
function ok(name) { console.log(`ok   ${name}`); }
function fail(name, why) { console.log(`FAIL ${name}: ${why}`); failed++; }
async function check(name, fn) {
  try {
    const why = await fn();
    if (why) fail(name, why); else ok(name);
  } catch (e) {
    fail(name, `threw ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
  }
}

const models = await client.models.list();
const model = models.data[0] && models.data[0].id;
await check('sdk: models.list gives one model', () => (typeof model === 'string' && model ? '' : JSON.stringify(models.data)));

const greedy = { model, temperature: 0, seed: 7, max_tokens: 8 };

let plainText = null;
await check('sdk: completions.create', async () => {
  const r = await client.completions.create({ ...greedy, prompt: 'In the beginning' });
  const c = r.choices && r.choices[0];
  if (r.object !== 'text_completion') return `object ${r.object}`;
  if (!c || typeof c.text !== 'string') return 'no text';
  if (!['stop', 'length'].includes(c.finish_reason)) return `finish_reason ${c.finish_reason}`;
  if (!r.usage || r.usage.completion_tokens <= 0 || r.usage.prompt_tokens <= 0) return `usage ${JSON.stringify(r.usage)}`;
  if (r.usage.total_tokens !== r.usage.prompt_tokens + r.usage.completion_tokens) return 'total_tokens';
  plainText = c.text;
  return '';
});

await check('sdk: completions stream equals the plain answer', async () => {
  const stream = await client.completions.create({ ...greedy, prompt: 'In the beginning', stream: true });
  let text = '', finish = null, n = 0;
  for await (const chunk of stream) {
    n++;
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.text;
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (!finish) return 'no finish_reason';
  if (text !== plainText) return `stream ${JSON.stringify(text)} vs plain ${JSON.stringify(plainText)}`;
  return n >= 2 ? '' : `only ${n} chunks`;
});

let chatText = null;
await check('sdk: chat.completions.create', async () => {
  const r = await client.chat.completions.create({
    ...greedy,
    messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Who made the earth?' }],
  });
  const c = r.choices[0];
  if (r.object !== 'chat.completion') return `object ${r.object}`;
  if (c.message.role !== 'assistant' || typeof c.message.content !== 'string') return JSON.stringify(c.message);
  if (!['stop', 'length'].includes(c.finish_reason)) return `finish_reason ${c.finish_reason}`;
  chatText = c.message.content;
  return '';
});

await check('sdk: chat stream (role first, then content, then finish_reason) equals the plain answer', async () => {
  const stream = await client.chat.completions.create({
    ...greedy,
    messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Who made the earth?' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '', first = null, finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (first === null) first = c.delta;
    text += c.delta.content || '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (!first || first.role !== 'assistant') return `first delta ${JSON.stringify(first)}`;
  if (!finish) return 'no finish_reason';
  if (!usage || usage.completion_tokens <= 0) return `usage ${JSON.stringify(usage)}`;
  return text === chatText ? '' : `stream ${JSON.stringify(text)} vs plain ${JSON.stringify(chatText)}`;
});

await check('sdk: content parts and n=2 with seeds', async () => {
  const r = await client.chat.completions.create({
    model, max_tokens: 4, n: 2, seed: 1, temperature: 1,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: ' there' }] }],
  });
  if (r.choices.length !== 2) return `${r.choices.length} choices`;
  return r.choices.map((c) => c.index).join(',') === '0,1' ? '' : 'indexes';
});

await check('sdk: frames extension is passed over by the SDK stream', async () => {
  const stream = await client.chat.completions.create({
    ...greedy,
    messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Who made the earth?' }],
    stream: true,
    frames: true,
  });
  let text = '', frames = 0;
  for await (const chunk of stream) {
    if (chunk.object === 'dllm.frame') { frames++; continue; }
    for (const c of chunk.choices) text += c.delta.content || '';
  }
  if (frames === 0) return 'no frames seen';
  return text === chatText ? '' : `text ${JSON.stringify(text)} vs ${JSON.stringify(chatText)}`;
});

// Fill in the blanks: the SDK passes `canvas` through as an extra body field
// (no prompt) and hands back choices[].canvas and choices[].spans as sent.
const canvas = [{ text: 'In the beginning' }, { mask: 5 }, { text: ' the earth' }, { mask: 3 }];
let filled = null;
await check('sdk: completions with a canvas (fill in the blanks)', async () => {
  const r = await client.completions.create({ model, canvas, seed: 5, temperature: 0 });
  const c = r.choices[0];
  if (!Array.isArray(c.canvas) || c.canvas.length !== 4) return `canvas ${JSON.stringify(c.canvas)}`;
  if (c.canvas[0].text !== 'In the beginning' || c.canvas[2].text !== ' the earth') return 'given text changed';
  if (c.canvas[1].mask !== 5 || c.canvas[3].mask !== 3) return 'span lengths';
  if (c.spans.join('') !== c.text) return `text ${JSON.stringify(c.text)} vs spans ${JSON.stringify(c.spans)}`;
  filled = c;
  return '';
});

await check('sdk: a streamed canvas gives the same spans', async () => {
  const stream = await client.completions.create({ model, canvas, seed: 5, temperature: 0, stream: true, frames: true });
  let text = '', last = null;
  for await (const chunk of stream) {
    if (chunk.object === 'dllm.frame') continue;
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.text;
    if (c.finish_reason) last = c;
  }
  if (!last || !last.spans) return 'no spans in the closing chunk';
  if (!filled) return 'no plain answer to compare';
  if (JSON.stringify(last.spans) !== JSON.stringify(filled.spans)) return `spans ${JSON.stringify(last.spans)} vs ${JSON.stringify(filled.spans)}`;
  return text === filled.text ? '' : `text ${JSON.stringify(text)}`;
});

await check('sdk: a canvas without a blank is a BadRequestError naming canvas', async () => {
  try {
    await client.completions.create({ model, canvas: [{ text: 'x' }] });
    return 'no error';
  } catch (e) {
    if (!(e instanceof OpenAI.BadRequestError)) return `got ${e.constructor.name}`;
    return e.param === 'canvas' ? '' : `param ${e.param}`;
  }
});

await check('sdk: a bad field is a BadRequestError naming it', async () => {
  try {
    await client.completions.create({ model, prompt: 'x', max_tokens: 'many' });
    return 'no error';
  } catch (e) {
    if (!(e instanceof OpenAI.BadRequestError)) return `got ${e.constructor.name}`;
    if (e.status !== 400 || e.param !== 'max_tokens') return `status ${e.status} param ${e.param}`;
    return '';
  }
});

await check('sdk: an unknown model is a NotFoundError', async () => {
  try {
    await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
    return 'no error';
  } catch (e) {
    return e instanceof OpenAI.NotFoundError ? '' : `got ${e.constructor.name} ${e.status}`;
  }
});

process.exit(failed ? 1 : 0);
