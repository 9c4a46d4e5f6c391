#!/usr/bin/python3
"""Reference encoder for llama2.c's tokenizer.bin, written from the algorithm
in llama2.c's run.c (encode): a space is prepended, each UTF-8 character
becomes its token or its byte tokens (<0xXX> = byte + 3), then the adjacent
pair whose joined text is a token with the highest score is merged (first
such pair on ties), until none is left.
usage: llama2c_ref.py TOKENIZER_BIN VOCAB_SIZE TEXT_FILE  -> ids on one line
       llama2c_ref.py TOKENIZER_BIN VOCAB_SIZE --json-lines FILE -> ids per string"""
import json
import struct
import sys


def load(path, n):
    with open(path, "rb") as f:
        data = f.read()
    off = 4
    pieces, scores = [], []
    for _ in range(n):
        score, ln = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off:off + ln])
        scores.append(score)
        off += ln
    return pieces, scores


def encode(text, pieces, scores):
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)
    data = (" " + text).encode("utf-8") if text else b""
    ids = []
    i = 0
    while i < len(data):
        j = i + 1
        while j < len(data) and (data[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        ch = data[i:j]
        if ch in lookup:
            ids.append(lookup[ch])
        else:
            ids.extend(b + 3 for b in ch)
        i = j
    while True:
        best, best_i, best_id = -1e10, -1, -1
        for k in range(len(ids) - 1):
            joined = pieces[ids[k]] + pieces[ids[k + 1]]
            if joined in lookup and scores[lookup[joined]] > best:
                best, best_i, best_id = scores[lookup[joined]], k, lookup[joined]
        if best_i < 0:
            break
        ids[best_i:best_i + 2] = [best_id]
    return ids


if __name__ == "__main__":
    pieces, scores = load(sys.argv[1], int(sys.argv[2]))
    if sys.argv[3] == "--json-lines":
        with open(sys.argv[4], encoding="utf-8") as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    print(" ".join(str(i) for i in encode(json.loads(line), pieces, scores)))
    else:
        with open(sys.argv[3], encoding="utf-8") as f:
            text = f.read()
        print(" ".join(str(i) for i in encode(text, pieces, scores)))
