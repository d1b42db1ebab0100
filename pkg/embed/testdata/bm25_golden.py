#!/usr/bin/env python3
"""Writes bm25_golden.jsonl: BM25 vectors computed the way fastembed's
Qdrant/bm25 computes them, for bm25_test.go to compare against.

Regenerate (Debian 12, CPython 3.11, Unicode 14.0):

    apt-get install python3-snowballstemmer
    /usr/bin/python3 testdata/bm25_golden.py "$(go env GOROOT)" > testdata/bm25_golden.jsonl

This re-implements, with CPython's own re and str semantics, the steps of
fastembed (fastembed/sparse/bm25.py, fastembed/common/utils.py,
fastembed/sparse/utils/tokenizer.py): remove_non_alphanumeric,
SimpleTokenizer.tokenize, Bm25._stem, Bm25._term_frequency,
Bm25.compute_token_id and Bm25.query_embed. Two libraries that are not in
Debian are replaced by equivalents checked here or in the Go tests:

  * mmh3.hash -> murmur3_32 below (MurmurHash3_x86_32, seed 0, signed),
    checked against published values before anything is written;
  * py_rust_stemmers.SnowballStemmer("english") -> snowballstemmer's
    "english" (Snowball 2.2.0; the same Porter2 algorithm as
    rust-stemmers 1.2.0).
"""

import json
import os
import re
import sys
import unicodedata

import snowballstemmer

K, B, AVG_LEN, TOKEN_MAX_LENGTH = 1.2, 0.75, 256.0, 40

# NLTK's English list, as in the Qdrant/bm25 model's english.txt.
STOPWORDS = set("""i me my myself we our ours ourselves you you're you've you'll you'd your
yours yourself yourselves he him his himself she she's her hers herself it it's its itself
they them their theirs themselves what which who whom this that that'll these those am is
are was were be been being have has had having do does did doing a an the and but if or
because as until while of at by for with about against between into through during before
after above below to from up down in out on off over under again further then once here
there when where why how all any both each few more most other some such no nor not only
own same so than too very s t can will just don don't should should've now d ll m o re ve
y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven
haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
shouldn't wasn wasn't weren weren't won won't wouldn wouldn't""".split())
assert len(STOPWORDS) == 179

PUNCTUATION = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
STEMMER = snowballstemmer.stemmer("english")


def murmur3_32(data: bytes, seed: int = 0) -> int:
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    n = len(data) - len(data) % 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[n:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h  # signed, as mmh3.hash


def smhasher_verification() -> int:
    key, hashes = bytearray(256), bytearray()
    for i in range(256):
        key[i] = i
        hashes += (murmur3_32(bytes(key[:i]), 256 - i) & 0xFFFFFFFF).to_bytes(4, "little")
    return murmur3_32(bytes(hashes)) & 0xFFFFFFFF


# Published values: mmh3's README, fastembed's tests, SMHasher.
assert murmur3_32(b"foo") == -156908512
assert murmur3_32(b"foo", 42) == -1322301282
assert murmur3_32(b"kitchens") == 358434922
assert murmur3_32(b"prostaglandins") == -358434922
assert murmur3_32(b"ad1u66pi") == -(2 ** 31)
assert smhasher_verification() == 0xB0F57EE3


def token_id(token: str) -> int:
    return abs(murmur3_32(token.encode("utf-8")))


def tokenize(text: str) -> list:
    text = re.sub(r"[^\w\s]", " ", text)        # remove_non_alphanumeric
    text = re.sub(r"[^\w]", " ", text.lower())  # SimpleTokenizer.tokenize
    text = re.sub(r"\s+", " ", text)
    return text.strip().split()


def stem(tokens: list) -> list:
    out = []
    for token in tokens:
        lower = token.lower()
        if token in PUNCTUATION or lower in STOPWORDS or len(token) > TOKEN_MAX_LENGTH:
            continue
        s = STEMMER.stemWord(lower)
        if s:
            out.append(s)
    return out


def document(stems: list) -> dict:
    counter = {}
    for s in stems:
        counter[s] = counter.get(s, 0) + 1
    tf = {}
    doc_len = len(stems)
    for s, n in counter.items():  # dict order: first occurrence
        tid = token_id(s)
        tf[tid] = n * (K + 1)      # a later colliding stem overwrites
        tf[tid] /= n + K * (1 - B + B * doc_len / AVG_LEN)
    return tf


CRAFTED = [
    "func parseHTTPRequest(ctx context.Context) (*http.Request, error) {",
    "parse_http_request snake_case __init__ _ _private x_1 MAX_RETRIES",
    "Hello, World!!! The quick brown fox -- jumps over the lazy dog.",
    "HTTP/2 uses port 443; 3.14159 and 1e10 and 0x1F and 42nd v1.2.3",
    "Grüße naïve café 東京 Ünïcödé ÆØÅ straße",
    "İstanbul KİTAP ΟΔΟΣ ΣΟΦΟΣ ΣΑΣ Σ aΣb ΑʰΣ Σʰ ΑΣʰ",
    "x" * 40 + " " + "y" * 41 + " " + "é" * 40 + " " + "é" * 41,
    "the and of it is was THE And Of",
    "",
    "   \t\n ",
    "!!! ... ??? --- ***",
    "test test test testing tested tests tester",
    "sensation sensation vpcompressdmasked128",
    "vpcompressdmasked128 sensation sensation",
    "ad1u66pi AD1U66PI (ad1u66pi)!",
    "٣٤٥ ½ Ⅻ ① ²³ ¼",
    "nai\u0308ve cafe\u0301 re\u0301sume\u0301",
    "😀 test🚀rocket ✓done",
    "line1\nline2\tline3\r\nline4\u00a0line5\u2003line6",
    "generously running skies dying lying news atlas cosmos evening proceeding succeeded",
    "// Package http provides HTTP client and server implementations.\n"
    "// Get, Head, Post, and PostForm make HTTP (or HTTPS) requests:",
    "a b c ab abc Y yy yyy yes your yours yourself",
]


def go_chunks(goroot: str) -> list:
    base = os.path.join(goroot, "src", "net", "http")
    names = sorted(n for n in os.listdir(base) if n.endswith(".go"))[:20]
    chunks = []
    for n in names:
        with open(os.path.join(base, n), encoding="utf-8") as f:
            text = f.read()
        chunks.append(text[:1000])
    return chunks


def main() -> None:
    texts = CRAFTED + (go_chunks(sys.argv[1]) if len(sys.argv) > 1 else [])
    for text in texts:
        stems = stem(tokenize(text))
        doc = document(stems)
        ids = sorted(doc)
        rec = {
            "text": text,
            "tokens": stems,
            "doc_indices": ids,
            "doc_values": [doc[i] for i in ids],
            "query_indices": sorted({token_id(s) for s in stems}),
        }
        print(json.dumps(rec, ensure_ascii=False))


if __name__ == "__main__":
    main()
