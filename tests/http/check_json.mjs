// Batch JSON checks for tests/suite_http.sh (one node start for many checks;
// node starts slowly on a loaded machine).
// Usage: node tests/http/check_json.mjs LIST
// LIST lines: NAME \t STATUS \t WANT_STATUS \t BODY_FILE \t JS_EXPR over j
// Prints "ok NAME" / "FAIL NAME: why" per line.
import fs from 'node:fs';

const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean);
for (const line of lines) {
  const [name, status, want, file, expr] = line.split('\t');
  const body = fs.readFileSync(file, 'utf8');
  let why = '';
  if (status !== want) why = `status ${status}, want ${want}`;
  else {
    try {
      const j = JSON.parse(body);
      if (!new Function('j', `return (${expr});`)(j)) why = 'check failed';
    } catch (e) { why = `${e.message}`; }
  }
  console.log(why ? `FAIL ${name}: ${why}: ${body.slice(0, 300)}` : `ok   ${name}`);
}
