"""Byte-level BPE (GPT-2 style), trained from scratch, saved in HF tokenizer.json form.

- Bytes are mapped to printable unicode with GPT-2's bytes_to_unicode table
  (space -> "\u0120" 'Ġ', newline -> "\u010a" 'Ċ', ...). Token strings in the
  vocab (and in GGUF tokenizer.ggml.tokens) are in that mapped form.
- Pre-tokenization: the GPT-2 regex
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
  Python's re has no \\p{..}; we use [^\\W\\d_] for \\p{L} and \\d for \\p{N}
  (identical on ASCII, and the KJV corpus is pure ASCII).
- Ids 0..255: the single-byte tokens, id == byte value. Then one id per new
  merged string in the order learned. Special tokens last.
- Merges are ranked in the order learned; encoding applies the lowest-rank
  adjacent pair first (GPT-2 / HF semantics).
"""
import json
import re
from collections import Counter, defaultdict

PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")

SPECIALS = ["<|startoftext|>", "<|endoftext|>", "[MASK]", "<|pad|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}


def pretokenize(text):
    return PAT.findall(text)


def to_unicode(s):
    return "".join(B2U[b] for b in s.encode("utf-8"))


def train_bpe(texts, vocab_size):
    """Returns (vocab list of token strings, merges list of (a, b)), without specials."""
    wc = Counter()
    for t in texts:
        wc.update(pretokenize(t))
    words = [list(to_unicode(w)) for w in wc]
    counts = [wc[w] for w in wc]
    vocab = [B2U[b] for b in range(256)]
    have = set(vocab)
    merges = []
    pc = Counter()
    where = defaultdict(set)
    for i, (w, c) in enumerate(zip(words, counts)):
        for p in zip(w, w[1:]):
            pc[p] += c
            where[p].add(i)
    while len(vocab) < vocab_size and pc:
        best = max(pc.items(), key=lambda kv: (kv[1], kv[0]))
        if best[1] < 2:
            break
        a, b = best[0]
        ab = a + b
        merges.append((a, b))
        if ab not in have:
            have.add(ab)
            vocab.append(ab)
        for i in list(where[(a, b)]):
            w, c = words[i], counts[i]
            for p in zip(w, w[1:]):
                pc[p] -= c
                if pc[p] <= 0:
                    del pc[p]
                where[p].discard(i)
            nw = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    nw.append(ab)
                    j += 2
                else:
                    nw.append(w[j])
                    j += 1
            words[i] = nw
            for p in zip(nw, nw[1:]):
                pc[p] += c
                where[p].add(i)
        where.pop((a, b), None)
        pc.pop((a, b), None)
    return vocab, merges


class Tokenizer:
    def __init__(self, vocab, merges, specials=SPECIALS):
        self.tokens = list(vocab) + list(specials)
        self.n_normal = len(vocab)
        self.id = {t: i for i, t in enumerate(self.tokens)}
        assert len(self.id) == len(self.tokens), "duplicate token strings"
        self.merges = [tuple(m) for m in merges]
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.specials = list(specials)
        self.cache = {}
        self.special_re = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")")

    # special ids
    @property
    def bos_id(self): return self.id["<|startoftext|>"]
    @property
    def eos_id(self): return self.id["<|endoftext|>"]
    @property
    def mask_id(self): return self.id["[MASK]"]
    @property
    def pad_id(self): return self.id["<|pad|>"]

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        w = list(to_unicode(word))
        while len(w) > 1:
            pairs = set(zip(w, w[1:]))
            best = min(pairs, key=lambda p: self.rank.get(p, 1 << 60))
            if best not in self.rank:
                break
            a, b = best
            nw = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    nw.append(a + b)
                    j += 2
                else:
                    nw.append(w[j])
                    j += 1
            w = nw
        ids = [self.id[t] for t in w]
        self.cache[word] = ids
        return ids

    def encode(self, text, allow_special=True):
        out = []
        parts = self.special_re.split(text) if allow_special else [text]
        for k, part in enumerate(parts):
            if allow_special and k % 2 == 1:
                out.append(self.id[part])
                continue
            for w in pretokenize(part):
                out.extend(self._bpe(w))
        return out

    def decode(self, ids, skip_special=True):
        bs = bytearray()
        for i in ids:
            i = int(i)
            if i >= self.n_normal:
                if not skip_special:
                    bs.extend(self.tokens[i].encode("utf-8"))
                continue
            bs.extend(U2B[c] for c in self.tokens[i])
        return bs.decode("utf-8", errors="replace")

    # ---- HF tokenizer.json
    def to_hf_json(self):
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": self.id[s], "content": s, "single_word": False, "lstrip": False,
                 "rstrip": False, "normalized": False, "special": True}
                for s in self.specials],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                              "trim_offsets": True, "use_regex": True},
            "post_processor": {"type": "ByteLevel", "add_prefix_space": True,
                               "trim_offsets": False, "use_regex": True},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                        "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False,
                      "vocab": {t: i for i, t in enumerate(self.tokens[:self.n_normal])},
                      "merges": ["%s %s" % m for m in self.merges]},
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_hf_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path):
        j = json.load(open(path, encoding="utf-8"))
        v = j["model"]["vocab"]
        vocab = [None] * len(v)
        for t, i in v.items():
            vocab[i] = t
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
        specials = [a["content"] for a in sorted(j["added_tokens"], key=lambda a: a["id"])]
        tok = cls(vocab, merges, specials)
        for a in j["added_tokens"]:
            assert tok.id[a["content"]] == a["id"]
        return tok


if __name__ == "__main__":
    import os
    import sys
    import time
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from corpus import split_chapters
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 3072
    out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/tok.json"
    tr, va = split_chapters()
    t0 = time.time()
    vocab, merges = train_bpe(tr, size - len(SPECIALS))
    tok = Tokenizer(vocab, merges)
    print("trained in %.1fs: %d tokens, %d merges" % (time.time() - t0, len(tok.tokens), len(merges)))
    tok.save(out)
    tok2 = Tokenizer.load(out)
    t0 = time.time()
    ntr = sum(len(tok2.encode(d)) for d in tr)
    nva = sum(len(tok2.encode(d)) for d in va)
    print("encoded in %.1fs: train %d tokens, val %d tokens" % (time.time() - t0, ntr, nva))
    for d in va[:3]:
        assert tok2.decode(tok2.encode(d)) == d
    s = "In the beginning<|endoftext|>[MASK] God's 12 words\n\nAnd"
    print(tok2.encode(s), repr(tok2.decode(tok2.encode(s), skip_special=False)))
