"""KJV corpus from Debian's bible-kjv package, cleaned to plain verses.

`bible -f 'Genesis1:1-Revelation22:21'` prints one verse per line as
"<BookAbbrev><chapter>:<verse> <text>", e.g. "1Sa3:4 That the LORD called Samuel".
We drop the reference, keep one verse per line, and group verses by chapter.
A chapter is one document: its verses joined by "\n".

Split (deterministic): chapter number i (0-based, in canonical order over the
whole Bible, 1189 chapters) is validation iff i % 50 == 49 (23 chapters, ~2%).
"""
import os
import re
import subprocess

REF_RE = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")
HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "work", "kjv_raw.txt")
VAL_EVERY = 50


def _raw_text():
    if os.path.exists(CACHE):
        return open(CACHE, encoding="utf-8").read()
    out = subprocess.run(["bible", "-f", "Genesis1:1-Revelation22:21"],
                         check=True, capture_output=True).stdout.decode("utf-8")
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    with open(CACHE, "w", encoding="utf-8") as f:
        f.write(out)
    return out


def load_chapters():
    """Returns a list of (ref, [verse texts]) in canonical order."""
    chapters = []
    cur_key = None
    for line in _raw_text().splitlines():
        line = line.rstrip()
        if not line:
            continue
        m = REF_RE.match(line)
        if not m:
            raise ValueError("unexpected line: %r" % line[:80])
        book, ch, _v, text = m.groups()
        text = " ".join(text.split())
        key = (book, int(ch))
        if key != cur_key:
            chapters.append(("%s%d" % key, []))
            cur_key = key
        chapters[-1][1].append(text)
    return chapters


def split_chapters():
    """Returns (train_docs, val_docs), each a list of chapter strings."""
    train, val = [], []
    for i, (_ref, verses) in enumerate(load_chapters()):
        (val if i % VAL_EVERY == VAL_EVERY - 1 else train).append("\n".join(verses))
    return train, val


def corpus_words(docs=None):
    """Set of whitespace-separated words (as they appear, punctuation kept) and
    the same with punctuation stripped, lowercased; used by the evaluation."""
    if docs is None:
        docs = [d for part in split_chapters() for d in part]
    return docs


if __name__ == "__main__":
    ch = load_chapters()
    tr, va = split_chapters()
    print(len(ch), "chapters,", sum(len(v) for _, v in ch), "verses;",
          len(tr), "train /", len(va), "val chapters;",
          sum(map(len, tr)), "/", sum(map(len, va)), "chars")
    print(tr[0][:300])
