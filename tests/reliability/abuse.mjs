// Load, faults and hostile input against a running dllm server on loopback.
// Usage: node tests/reliability/abuse.mjs PORT MODE [seconds] [concurrency]
//   MODE: load | faults | hostile
// Prints "ok NAME" / "FAIL NAME: why" lines and a JSON line "stats {...}";
// the calling suite counts them. Uses only Node's own modules, so it is the
// same client wherever it runs. Every loop is bounded in count and time.
import http from 'node:http';
import net from 'node:net';

const port = Number(process.argv[2]);
const mode = process.argv[3];
const seconds = Number(process.argv[4] || 10);
const concurrency = Number(process.argv[5] || 32);
const host = '127.0.0.1';
const stats = { requests: 0, ok: 0, e429: 0, errors4xx: 0, faults: 0, hung: 0, bad: 0 };

function ok(name) { console.log(`ok   ${name}`); }
function fail(name, why) { console.log(`FAIL ${name}: ${why}`); }

// One request; resolves {status, headers, body} or {error}. Never rejects.
function request(method, path, body, { headers = {}, timeoutMs = 60000, abortAfterMs = -1 } = {}) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : (Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
    const req = http.request({ host, port, method, path, headers: { 'content-type': 'application/json', ...(data ? { 'content-length': data.length } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }); });
      res.on('error', (e) => { clearTimeout(timer); resolve({ error: String(e) }); });
    });
    const timer = setTimeout(() => { req.destroy(); resolve({ error: 'timeout', hung: true }); }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); resolve({ error: String(e) }); });
    if (abortAfterMs >= 0) setTimeout(() => { req.destroy(); clearTimeout(timer); resolve({ aborted: true }); }, abortAfterMs);
    if (data) req.write(data);
    req.end();
  });
}

function isErrorBody(text) {
  try {
    const j = JSON.parse(text);
    return j && j.error && typeof j.error.message === 'string' && 'type' in j.error && 'param' in j.error && 'code' in j.error;
  } catch { return false; }
}

// A complete response: JSON with choices, or an SSE stream ending in [DONE].
function isComplete(r, streamed) {
  if (r.status !== 200) return false;
  if (streamed) return /data: \[DONE\]\s*$/.test(r.body);
  try { const j = JSON.parse(r.body); return Array.isArray(j.choices) || typeof j.content === 'string'; } catch { return false; }
}

const kinds = [
  () => ({ path: '/v1/completions', body: { prompt: 'In the beginning', max_tokens: 8 }, stream: false }),
  () => ({ path: '/v1/completions', body: { prompt: 'And God said', max_tokens: 8, stream: true }, stream: true }),
  () => ({ path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'Who made the earth?' }], max_tokens: 8 }, stream: false }),
  () => ({ path: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, stream: true }, stream: true }),
  () => ({ path: '/v1/completions', body: { prompt: 'The LORD is my', suffix: ' shall not want.', max_tokens: 8 }, stream: false }),
  () => ({ path: '/infill', body: { input_prefix: 'Blessed are the', input_suffix: ' for they shall', n_predict: 8 }, stream: false }),
];

async function load() {
  const end = Date.now() + seconds * 1000;
  let i = 0;
  async function worker() {
    while (Date.now() < end) {
      const k = kinds[i++ % kinds.length]();
      const r = await request('POST', k.path, k.body, { timeoutMs: 120000 });
      stats.requests++;
      if (r.hung) { stats.hung++; continue; }
      if (r.status === 429) {
        if (isErrorBody(r.body) && r.headers['retry-after']) stats.e429++; else { stats.bad++; console.log(`bad 429: ${r.body.slice(0, 200)}`); }
        // A polite client backs off as Retry-After asks (a quarter of it, to keep the pressure on).
        await sleep(250 * Number(r.headers['retry-after'] || 1));
      } else if (isComplete(r, k.stream)) stats.ok++;
      else { stats.bad++; if (stats.bad < 5) console.log(`bad response ${k.path}: ${r.status} ${r.error || ''} ${String(r.body || '').slice(0, 300)}`); }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (stats.hung === 0) ok(`load: no request hung (${stats.requests} requests, concurrency ${concurrency})`); else fail('load: no request hung', `${stats.hung} hung`);
  if (stats.bad === 0) ok('load: every request ended complete or with a well-formed error'); else fail('load: every request complete or well-formed error', `${stats.bad} bad`);
  if (stats.ok > 0) ok(`load: ${stats.ok} complete responses`); else fail('load: some complete responses', 'none');
}

// Raw socket helpers for partial requests.
function rawSocket() {
  return new Promise((resolve) => {
    const s = net.connect(port, host, () => resolve(s));
    s.on('error', () => {});
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function faults() {
  // Clients that vanish mid-request and mid-stream, at random moments.
  const n = Math.max(100, concurrency * 4);
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const tasks = [];
  for (let i = 0; i < n; i++) {
    const k = kinds[i % kinds.length]();
    tasks.push(request('POST', k.path, { ...k.body, max_tokens: 32 }, { abortAfterMs: Math.floor(rand() * 400) }));
    stats.faults++;
    if (tasks.length >= 64) { await Promise.all(tasks); tasks.length = 0; }
  }
  await Promise.all(tasks);
  // Slow readers: open streams and never read them (pause the socket).
  const slow = [];
  for (let i = 0; i < 8; i++) {
    const s = await rawSocket();
    const body = JSON.stringify({ prompt: 'slow reader', max_tokens: 16, steps: 16, block_length: 16, stream: true, frames: true });
    s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    s.pause();
    slow.push(s);
    stats.faults++;
  }
  // Slowloris: partial headers and partial bodies, left hanging.
  const loris = [];
  for (let i = 0; i < 16; i++) {
    const s = await rawSocket();
    s.write(i % 2 ? 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ' : 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"prompt": "');
    loris.push(s);
    stats.faults++;
  }
  await sleep(500);
  // The server still answers promptly while all of the above hang on.
  const r = await request('POST', '/v1/completions', { prompt: 'Still serving', max_tokens: 4, steps: 4, block_length: 4 }, { timeoutMs: 120000 });
  if (isComplete(r, false)) ok(`faults: serves while ${slow.length} slow readers and ${loris.length} slowloris clients hang, after ${n} vanished clients`);
  else fail('faults: still serving', `${r.status} ${r.error || ''} ${String(r.body || '').slice(0, 200)}`);
  for (const s of [...slow, ...loris]) s.destroy();
  await sleep(300);
  const h = await request('GET', '/health');
  if (h.status === 200) ok('faults: healthy afterwards'); else fail('faults: healthy afterwards', `${h.status} ${h.error || ''}`);
}

async function hostile() {
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  const cases = [
    ['malformed JSON', '/v1/completions', '{"prompt": "x",', 400],
    ['deeply nested JSON', '/v1/completions', `{"prompt": ${deep}}`, 400],
    ['not an object', '/v1/completions', '[1,2,3]', 400],
    ['prompt wrong type', '/v1/completions', { prompt: { a: 1 } }, 400],
    ['max_tokens wrong type', '/v1/completions', { prompt: 'x', max_tokens: 'ten' }, 400],
    ['max_tokens negative', '/v1/completions', { prompt: 'x', max_tokens: -5 }, 400],
    ['max_tokens huge', '/v1/completions', { prompt: 'x', max_tokens: 1e12 }, 400],
    ['n zero', '/v1/completions', { prompt: 'x', n: 0 }, 400],
    ['n huge', '/v1/completions', { prompt: 'x', n: 100000 }, 400],
    ['temperature out of range', '/v1/completions', { prompt: 'x', temperature: -1 }, 400],
    ['temperature NaN text', '/v1/completions', '{"prompt": "x", "temperature": NaN}', 400],
    ['top_p out of range', '/v1/completions', { prompt: 'x', top_p: 2 }, 400],
    ['steps zero', '/v1/completions', { prompt: 'x', steps: 0 }, 400],
    ['block_length does not divide', '/v1/completions', { prompt: 'x', max_tokens: 10, block_length: 3, steps: 7 }, 400],
    ['stop wrong type', '/v1/completions', { prompt: 'x', stop: 5 }, 400],
    ['stream wrong type', '/v1/completions', { prompt: 'x', stream: 'yes' }, 400],
    ['seed wrong type', '/v1/completions', { prompt: 'x', seed: 'abc' }, 400],
    ['best_of > n', '/v1/completions', { prompt: 'x', best_of: 3, n: 1 }, 400],
    ['token id out of vocab', '/v1/completions', { prompt: [99999999] }, 400],
    ['messages missing', '/v1/chat/completions', { max_tokens: 4 }, 400],
    ['messages wrong type', '/v1/chat/completions', { messages: 'hi' }, 400],
    ['message role wrong', '/v1/chat/completions', { messages: [{ role: 'wizard', content: 'hi' }] }, 400],
    ['message content wrong type', '/v1/chat/completions', { messages: [{ role: 'user', content: 42 }] }, 400],
    ['unknown model', '/v1/completions', { model: 'no-such-model', prompt: 'x' }, 404],
    ['prompt longer than the context', '/v1/completions', { prompt: 'And it came to pass '.repeat(20000), max_tokens: 4 }, 400],
    ['huge array', '/v1/completions', { prompt: Array.from({ length: 200000 }, () => 1) }, [400, 413]],
    ['invalid UTF-8', '/v1/completions', Buffer.concat([Buffer.from('{"prompt": "'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]), 400],
    ['NUL byte in body', '/v1/completions', Buffer.concat([Buffer.from('{"prompt": "a'), Buffer.from([0]), Buffer.from('b"}')]), 400],
    ['body too large', '/v1/completions', '{"prompt": "' + 'a'.repeat(4 * 1024 * 1024) + '"}', 413],
    ['canvas without a blank', '/v1/completions', { canvas: [{ text: 'x' }] }, 400],
    ['canvas: many tiny segments', '/v1/completions', { canvas: Array.from({ length: 5000 }, (_, i) => (i % 2 ? { mask: 1 } : { text: 'a' })) }, 400],
    ['canvas: nested segment', '/v1/completions', { canvas: [{ mask: { mask: 3 } }] }, 400],
    ['canvas: huge blank', '/v1/completions', { canvas: [{ mask: 2 ** 31 }] }, 400],
    ['canvas longer than the context', '/v1/completions', { canvas: [{ text: 'And it came to pass '.repeat(20000) }, { mask: 4 }] }, 400],
    ['t_eps out of range', '/v1/completions', { prompt: 'x', t_eps: -1 }, 400],
  ];
  for (const [name, path, body, want] of cases) {
    const r = await request('POST', path, body, { timeoutMs: 30000 });
    stats.requests++;
    const wants = Array.isArray(want) ? want : [want];
    if (wants.includes(r.status) && isErrorBody(r.body)) ok(`hostile: ${name} -> ${r.status}`);
    else fail(`hostile: ${name}`, `want ${wants.join('/')} with an OpenAI error body, got ${r.status} ${r.error || ''} ${String(r.body || '').slice(0, 200)}`);
  }
  for (const p of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/index.html/../../etc/passwd', '/static/../config/dllm.json', '/server/main.c', '/.git/config']) {
    const r = await request('GET', p);
    stats.requests++;
    if (r.status === 404 && isErrorBody(r.body) && !/root:|\[core\]/.test(r.body)) ok(`hostile: path ${p} -> 404`);
    else fail(`hostile: path ${p}`, `got ${r.status} ${String(r.body || '').slice(0, 120)}`);
  }
  const m = await request('DELETE', '/v1/completions');
  if (m.status === 405 && isErrorBody(m.body)) ok('hostile: wrong method -> 405'); else fail('hostile: wrong method', `${m.status}`);
  const h = await request('GET', '/health');
  if (h.status === 200) ok('hostile: healthy afterwards'); else fail('hostile: healthy afterwards', `${h.status}`);
}

const modes = { load, faults, hostile };
if (!modes[mode]) { console.error('usage: abuse.mjs PORT load|faults|hostile [seconds] [concurrency]'); process.exit(2); }
await modes[mode]();
console.log('stats ' + JSON.stringify(stats));
