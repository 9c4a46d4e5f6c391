// The page at / in a real browser: Debian's Chromium, driven by playwright-core.
// Usage: node tests/browser/denoise.test.mjs BASE_URL OUT_DIR [API_KEY [CORS_ORIGIN]]
// CORS_ORIGIN: another origin of the same server (http://localhost:PORT) that
// the server was told to allow: the page loaded from there talks to BASE_URL
// across origins.
// Prints "ok NAME" / "FAIL NAME: why" lines; tests/suite_browser.sh counts them.
// The reference for the page's final text is the same request sent to the API
// without streaming (fetch from Node, not from the page).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const base = process.argv[2].replace(/\/+$/, '');
const outDir = process.argv[3];
const apiKey = process.argv[4] || '';
const corsOrigin = (process.argv[5] || '').replace(/\/+$/, '');

function ok(name) { console.log(`ok   ${name}`); }
function fail(name, why) { console.log(`FAIL ${name}: ${String(why).replace(/\s+/g, ' ').slice(0, 400)}`); }
function check(name, cond, why) { if (cond) ok(name); else fail(name, why); return cond; }

// Settings of lane 1; lane 2 is a copy with seed + 1. A temperature above 0
// makes the answer depend on the seed, so the same-seed check means something.
const settings = { prompt: 'And God said, Let there be', gen_length: 32, steps: 16, block_length: 16,
                   remasking: 'low_confidence', temperature: 0.8, seed: 7 };

const suffix = ' and there was light.';

// kind: 'plain', 'infill' (with the suffix) or 'chat' (the prompt as the user's message).
async function reference(seed, kind) {
  const body = { max_tokens: settings.gen_length, steps: settings.steps,
                 block_length: settings.block_length, remasking: settings.remasking,
                 temperature: settings.temperature, seed };
  if (kind === 'chat') body.messages = [{ role: 'user', content: settings.prompt }];
  else body.prompt = settings.prompt;
  if (kind === 'infill') body.suffix = suffix;
  const headers = { 'Content-Type': 'application/json' };
  if (apiKey) headers.Authorization = 'Bearer ' + apiKey;
  const route = kind === 'chat' ? '/v1/chat/completions' : '/v1/completions';
  const res = await fetch(base + route, { method: 'POST', headers, body: JSON.stringify(body) });
  const j = await res.json();
  if (!res.ok) throw new Error(`reference request: HTTP ${res.status} ${JSON.stringify(j)}`);
  return kind === 'chat' ? j.choices[0].message.content : j.choices[0].text;
}

// Fill in the blanks: the page's text with [mask:N] / [____] blanks, and the
// same canvas sent to the API by hand.
const blanksText = 'In the beginning [mask:6] created the heaven[____] and the earth.';
const blanksCanvas = [{ text: 'In the beginning ' }, { mask: 6 }, { text: ' created the heaven' }, { mask: 4 },
                      { text: ' and the earth.' }];
const blanksSettings = { steps: 10, remasking: 'low_confidence', temperature: 0.8, seed: 11 };

async function blanksReference() {
  const body = { canvas: blanksCanvas, ...blanksSettings };
  const headers = { 'Content-Type': 'application/json' };
  if (apiKey) headers.Authorization = 'Bearer ' + apiKey;
  const res = await fetch(base + '/v1/completions', { method: 'POST', headers, body: JSON.stringify(body) });
  const j = await res.json();
  if (!res.ok) throw new Error(`blanks reference: HTTP ${res.status} ${JSON.stringify(j)}`);
  return j.choices[0];
}

const lane = i => `.lane[data-lane="${i}"]`;

async function fillLane(page, i, s) {
  for (const [k, v] of Object.entries(s)) {
    const sel = `${lane(i)} [name="${k}"]`;
    if (k === 'remasking') await page.selectOption(sel, v);
    else await page.fill(sel, String(v));
  }
}

// Records, after every change to lane i's grid, how many cells it has and how
// many of them are masked: what a person watching would have seen.
async function watchGrid(page, i) {
  await page.evaluate(sel => {
    window.seen = [];
    const grid = document.querySelector(sel + ' .grid');
    new MutationObserver(() => {
      const cells = grid.querySelectorAll('.cell').length;
      if (cells) window.seen.push([cells, grid.querySelectorAll('.cell.masked').length]);
    }).observe(grid, { subtree: true, childList: true, attributes: true, characterData: true });
  }, lane(i));
}

async function waitDone(page, i, timeout = 120000) {
  await page.waitForFunction(sel => {
    const l = document.querySelector(sel);
    // finished: Start is back, and there is a run to replay or an error to read
    return l && !l.querySelector('.start').disabled &&
           (!l.querySelector('.replay').disabled || !l.querySelector('.error').hidden);
  }, lane(i), { timeout });
}

async function replayTo(page, i, v) {
  await page.$eval(`${lane(i)} .replay`, (el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input'));
  }, v);
  return page.$eval(lane(i), el => ({ step: Number(el.dataset.step), masked: Number(el.dataset.masked) }));
}

// The page served from another origin, pointed at BASE_URL in its Server
// field: works through the server's CORS headers; a dead address is reported.
async function crossOrigin(browser, ref) {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', e => pageErrors.push(String(e)));
  await page.goto(corsOrigin + '/');
  await page.fill('#server', base);
  await page.fill('#apikey', apiKey);
  await page.dispatchEvent('#apikey', 'change');
  await fillLane(page, 0, settings);
  await page.click(`${lane(0)} .start`);
  await waitDone(page, 0);
  const text = await page.$eval(`${lane(0)} .final`, el => el.textContent);
  const err = await page.$eval(`${lane(0)} .error`, el => el.hidden ? '' : el.textContent);
  check(`from ${corsOrigin} across origins (CORS): the same text`, text === ref && !err,
        err || `page ${JSON.stringify(text)} vs API ${JSON.stringify(ref)}`);
  // Settle the model list's own failure first: its message moves the lanes
  // down, and must not land between the press and release of the click.
  await page.fill('#server', 'http://127.0.0.1:1');
  await page.dispatchEvent('#server', 'change');
  await page.waitForSelector('#top-error:not([hidden])', { timeout: 10000 }).catch(() => {});
  const top = await page.$eval('#top-error', el => el.hidden ? '' : el.textContent);
  check('an unreachable server: the model list says so', /Could not reach the server/.test(top), top || '(no message)');
  await page.click(`${lane(0)} .start`);
  await page.waitForSelector(`${lane(0)} .error:not([hidden])`, { timeout: 10000 }).catch(() => {});
  const dead = await page.$eval(`${lane(0)} .error`, el => el.hidden ? '' : el.textContent);
  check('an unreachable server: a run says so in plain words', /Could not reach the server/.test(dead), dead || '(no message)');
  check('no script errors on the cross-origin page', pageErrors.length === 0, pageErrors.join(' | '));
  await page.close();
}

async function main() {
  const refs = [await reference(settings.seed, 'plain'), await reference(settings.seed + 1, 'infill'),
                await reference(settings.seed + 2, 'chat')];
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dllm-chromium-'));
  const browser = await chromium.launchPersistentContext(userDir, {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1360, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const foreign = [], pageErrors = [];
    page.on('request', r => { if (!r.url().startsWith(base + '/')) foreign.push(r.url()); });
    page.on('pageerror', e => pageErrors.push(String(e)));

    const res = await page.goto(base + '/');
    check('GET / serves the page as text/html', res.status() === 200 &&
          /^text\/html/.test(res.headers()['content-type'] || ''), `${res.status()} ${res.headers()['content-type']}`);
    check('the page has its title', (await page.title()).includes('dllm'), await page.title());
    const root = await (await page.request.get(base + '/')).text();
    const index = await page.request.get(base + '/index.html');
    check('GET /index.html serves the same page', index.status() === 200 && (await index.text()) === root,
          `HTTP ${index.status()}`);

    if (apiKey) {
      // Without the key: the model list and a run both fail, in plain words.
      await page.waitForSelector('#top-error:not([hidden])', { timeout: 10000 }).catch(() => {});
      const top = await page.$eval('#top-error', el => el.hidden ? '' : el.textContent);
      check('without the API key the page says a key is needed', /API key/.test(top), top || '(no message)');
      await fillLane(page, 0, settings);
      await page.click(`${lane(0)} .start`);
      await page.waitForSelector(`${lane(0)} .error:not([hidden])`, { timeout: 10000 }).catch(() => {});
      const msg = await page.$eval(`${lane(0)} .error`, el => el.hidden ? '' : el.textContent);
      check('a run without the key shows the 401 in plain words', /API key/.test(msg) && /401/.test(msg), msg || '(no message)');
      await page.fill('#apikey', apiKey);
      await page.dispatchEvent('#apikey', 'change');
      await page.waitForFunction(() => document.querySelector('#top-error').hidden, null, { timeout: 10000 })
        .catch(() => {});
      check('with the key the model list loads', await page.$eval('#model', el => el.options.length > 1), 'no models listed');
    }

    // A bad field: the server's 400 error object, shown with the field's name.
    await fillLane(page, 0, { ...settings, steps: 0 });
    await page.click(`${lane(0)} .start`);
    await page.waitForSelector(`${lane(0)} .error:not([hidden])`, { timeout: 10000 }).catch(() => {});
    const bad = await page.$eval(`${lane(0)} .error`, el => el.hidden ? '' : el.textContent);
    check('a bad setting shows the 400 and names the field', /400/.test(bad) && /steps/.test(bad), bad || '(no message)');

    // One run, watched live.
    await fillLane(page, 0, settings);
    await watchGrid(page, 0);
    const t0 = Date.now();
    await page.click(`${lane(0)} .start`);
    await waitDone(page, 0);
    const secs = (Date.now() - t0) / 1000;
    const seen = await page.evaluate(() => window.seen);
    const masks = seen.map(s => s[1]);
    const cells = seen.length ? seen[seen.length - 1][0] : 0;
    console.log(`    run: ${secs.toFixed(2)} s, ${seen.length} grid updates, ${cells} cells, masked counts seen: ${masks.join(' ')}`);
    check('the grid shows masked cells first', masks.length > 0 && masks[0] >= settings.gen_length / 2,
          `first masked count ${masks[0]} of ${settings.gen_length}`);
    check('masks only go down as frames arrive', masks.every((m, j) => j === 0 || m <= masks[j - 1]), masks.join(' '));
    check('several frames were drawn on the way', new Set(masks).size >= 3, `distinct masked counts: ${[...new Set(masks)]}`);
    check('no masks at the end', masks[masks.length - 1] === 0, `last ${masks[masks.length - 1]}`);
    const err = await page.$eval(`${lane(0)} .error`, el => el.hidden ? '' : el.textContent);
    check('no error shown', !err, err);
    const text = await page.$eval(`${lane(0)} .final`, el => el.textContent);
    check('the final text equals the API\'s for the same seed', text === refs[0] && text.length > 0,
          `page ${JSON.stringify(text)} vs API ${JSON.stringify(refs[0])}`);
    const progress = await page.$eval(`${lane(0)} .progress`, el => el.textContent.replace(/\s+/g, ' ').trim());
    console.log(`    progress line: ${progress}`);
    check('progress shows the last step and tokens/s', /step (\d+) of \1\b/.test(progress) && !/ 0 tokens\/s/.test(progress) &&
          !/NaN|Infinity/.test(progress), progress);

    // Three lanes side by side, sharing the server: the run above, one that
    // fills a gap before a suffix (infill), and a chat.
    await page.click('#add-lane');
    const seed2 = await page.$eval(`${lane(1)} [name="seed"]`, el => Number(el.value));
    check('a new lane copies the settings with the next seed', seed2 === settings.seed + 1, `seed ${seed2}`);
    await page.fill(`${lane(1)} [name="suffix"]`, suffix);
    await page.click('#add-lane');
    await page.fill(`${lane(2)} [name="suffix"]`, '');
    await page.selectOption(`${lane(2)} [name="endpoint"]`, 'chat');
    await page.click('#start-all');
    await page.waitForFunction(() => [...document.querySelectorAll('.lane .start')].every(b => b.disabled), null,
                               { timeout: 5000 }).catch(() => {});
    for (let i = 0; i < 3; i++) await waitDone(page, i);
    const texts = [];
    for (let i = 0; i < 3; i++) texts.push(await page.$eval(`${lane(i)} .final`, el => el.textContent));
    check('three lanes at once (plain, infill, chat): each text equals the API\'s for its seed',
          texts.every((t, i) => t === refs[i]), `page ${JSON.stringify(texts)} vs API ${JSON.stringify(refs)}`);
    // The suffix sits after the span as given (frozen) cells, untouched.
    const tail = await page.$$eval(`${lane(1)} .grid .cell`, cs => cs.slice(-3).map(c => c.className));
    check('infill: the suffix shows as given cells after the span', tail.length === 3 && tail.every(c => /frozen/.test(c)),
          tail.join(' | '));

    // Replay with the sliders of all three lanes: start, middle and end of
    // each run; these are the screenshots.
    fs.mkdirSync(outDir, { recursive: true });
    const lasts = [];
    for (let i = 0; i < 3; i++) lasts.push(Number(await page.$eval(`${lane(i)} .replay`, el => el.max)));
    const at = [];
    for (const [name, frac] of [['start', 0], ['middle', 0.5], ['end', 1]]) {
      const states = [];
      for (let i = 0; i < 3; i++) states.push(await replayTo(page, i, Math.floor(lasts[i] * frac)));
      at.push(states[0]);
      await page.screenshot({ path: path.join(outDir, name + '.png'), fullPage: true });
    }
    const [first, mid, end] = at;
    console.log(`    replay, lane 1: frame 0 step ${first.step} masked ${first.masked}; middle step ${mid.step} ` +
                `masked ${mid.masked}; end step ${end.step} masked ${end.masked}`);
    check('replay steps back through the run', first.masked === masks[0] && mid.masked < first.masked &&
          mid.masked > end.masked && end.masked === 0 && first.step < mid.step && mid.step < end.step,
          JSON.stringify({ first, mid, end }));

    // Stop mid-run: the request is dropped, the page says so, the cells
    // still masked stay masked, and the server goes on serving. (A long run,
    // so that even a tiny model is still busy when Stop is pressed.)
    await fillLane(page, 0, { ...settings, gen_length: 256, steps: 256, block_length: 256 });
    await page.click(`${lane(0)} .start`);
    await page.waitForFunction(sel => {
      const g = document.querySelector(sel + ' .grid');
      return g.querySelector('.cell') && g.querySelectorAll('.cell:not(.masked):not(.frozen)').length > 0;
    }, lane(0), { timeout: 60000 });
    await page.click(`${lane(0)} .stop`);
    await waitDone(page, 0);
    const stopped = await page.$eval(lane(0), el => ({ error: el.querySelector('.error').hidden ? '' : el.querySelector('.error').textContent,
                                                       masked: Number(el.dataset.masked) }));
    check('Stop ends a run midway and says so', stopped.error === 'Stopped.' && stopped.masked > 0, JSON.stringify(stopped));
    await fillLane(page, 0, settings);
    await page.click(`${lane(0)} .start`);
    await waitDone(page, 0);
    const again = await page.$eval(`${lane(0)} .final`, el => el.textContent);
    check('after a Stop the same run again gives the same text', again === refs[0], `${JSON.stringify(again)} vs ${JSON.stringify(refs[0])}`);

    // Fill in the blanks: lane 1 in that mode, watched live like the first run.
    const bref = await blanksReference();
    await page.selectOption(`${lane(1)} [name="endpoint"]`, 'blanks');
    await fillLane(page, 1, { prompt: 'no blank here', ...blanksSettings });
    await page.click(`${lane(1)} .start`);
    await waitDone(page, 1);
    const noBlank = await page.$eval(`${lane(1)} .error`, el => el.hidden ? '' : el.textContent);
    check('fill in the blanks: text without a blank shows the 400 naming canvas', /400/.test(noBlank) && /canvas/.test(noBlank),
          noBlank || '(no message)');
    await fillLane(page, 1, { prompt: blanksText, ...blanksSettings });
    await watchGrid(page, 1);
    await page.click(`${lane(1)} .start`);
    await waitDone(page, 1);
    const bseen = (await page.evaluate(() => window.seen)).map(x => x[1]);
    const bfinal = await page.$eval(`${lane(1)} .final`, el => ({
      text: el.textContent, marks: [...el.querySelectorAll('mark.fill')].map(m => m.textContent) }));
    const bwant = bref.canvas.map(sg => sg.text).join('');
    console.log(`    blanks: masked counts seen ${bseen.join(' ')}; text ${JSON.stringify(bfinal.text)}`);
    // 10 masked tokens in 10 steps: one commit per step, so the first frame shows 9 masked
    check('fill in the blanks: both blanks masked at first, one fewer per step, none at the end',
          bseen[0] === 9 && bseen.every((m, j) => j === 0 || m <= bseen[j - 1]) && bseen[bseen.length - 1] === 0,
          bseen.join(' '));
    check('fill in the blanks: the filled text equals the API\'s canvas for the same seed', bfinal.text === bwant,
          `page ${JSON.stringify(bfinal.text)} vs API ${JSON.stringify(bwant)}`);
    check('fill in the blanks: each blank\'s text is marked', JSON.stringify(bfinal.marks) === JSON.stringify(bref.spans),
          `${JSON.stringify(bfinal.marks)} vs ${JSON.stringify(bref.spans)}`);
    const kinds = await page.$$eval(`${lane(1)} .grid .cell`, cs => cs.map(c => /frozen/.test(c.className) ? 'g' : 'f').join(''));
    check('fill in the blanks: given text on both sides of each blank stays given', /^g+f{6}g+f{4}g+$/.test(kinds), kinds);
    await page.screenshot({ path: path.join(outDir, 'blanks.png'), fullPage: true });

    check('the page fetched nothing but the server', foreign.length === 0, foreign.join(' '));
    check('no script errors on the page', pageErrors.length === 0, pageErrors.join(' | '));

    if (corsOrigin) await crossOrigin(browser, refs[0]);
  } finally {
    await browser.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

main().catch(e => { fail('browser test ran to the end', e.stack || e); process.exitCode = 1; });
