// tests/tok/ref_encode.js: reference token ids from @lenml/tokenizers (a
// tokenizers-only fork of transformers.js), for tests/suite_tok.sh.
// usage: node tests/tok/ref_encode.js TOKENIZER_JSON STRINGS_FILE [DECODED_OUT]
// STRINGS_FILE holds one JSON string literal per line ('#' lines are notes).
// Prints one line per string: the ids without special tokens added; with
// DECODED_OUT, also writes there the JSON-quoted decoding of those ids
// (special tokens kept), one line per string.
const fs = require('fs');
const path = require('path');
const { TokenizerLoader } = require('@lenml/tokenizers');

const [tokPath, strPath, decodedOut] = process.argv.slice(2);
const tokenizerJSON = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
const cfgPath = path.join(path.dirname(tokPath), 'tokenizer_config.json');
const tokenizerConfig = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, 'utf8')) : {};
// The wrapper's clean_up_tokenization_spaces (" 's" -> "'s" over the whole
// text) is off: dllm's decode gives back the text the tokens spell; the
// WordPiece decoder's own cleanup (in tokenizer.json) stays.
tokenizerConfig.clean_up_tokenization_spaces = false;
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });

const decoded = [];
for (const line of fs.readFileSync(strPath, 'utf8').split('\n')) {
  if (line === '' || line.startsWith('#')) continue;
  const ids = tok.encode(JSON.parse(line), { add_special_tokens: false });
  console.log(ids.join(' '));
  decoded.push(JSON.stringify(ids.length ? tok.decode(ids, { skip_special_tokens: false }) : '') + '\n');
}
if (decodedOut) fs.writeFileSync(decodedOut, decoded.join(''));
