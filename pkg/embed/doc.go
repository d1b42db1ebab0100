// Package embed holds the embedders of jetrun's indexing pipeline: BM25,
// a sparse embedder that runs offline and matches fastembed's
// Qdrant/bm25 token for token, and OpenAI, a dense embedder for any
// OpenAI-compatible /v1/embeddings endpoint. Used together they give
// hybrid search (Qdrant fuses the two result lists with RRF).
//
// # BM25
//
// NewBM25 returns the Sparse embedder. A collection it fills must declare
// its sparse vector with Qdrant's IDF modifier: documents carry only the
// term-frequency part of BM25, Qdrant supplies the inverse document
// frequency at query time. Model() is "Qdrant/bm25", the name fastembed
// uses, because the vectors are interchangeable: a collection indexed
// here can be searched with fastembed's query_embed and the other way
// round.
//
// For a text, as fastembed does it (fastembed/sparse/bm25.py,
// fastembed/common/utils.py, fastembed/sparse/utils/tokenizer.py):
//
//  1. re.sub(r"[^\w\s]", " ", text), then re.sub(r"[^\w]", " ",
//     text.lower()) and split(): a token is a maximal run of word
//     characters (letters, digits of any script, '_') lower-cased by
//     CPython's rules. snake_case identifiers stay one token; camelCase
//     ones are not split.
//  2. Drop the token "_" (the only word character in the punctuation set
//     fastembed builds from every category P* character), NLTK's 179
//     English stopwords, and tokens over 40 code points.
//  3. Stem with Snowball English (Porter2), as py_rust_stemmers does;
//     drop empty stems.
//  4. Document: for each distinct stem, id abs(mmh3.hash(stem)) (see
//     TokenID) and value tf*(k+1)/(tf + k*(1 - b + b*n/avg_len)), n the
//     number of kept stems, k=1.2, b=0.75, avg_len=256 by default
//     (NewBM25WithParams changes them, as fastembed's constructor does).
//     Query: each distinct stem's id with value 1.
//
// What was checked, and how:
//
//   - fastembed's source was read (the lines relied on are quoted on the
//     BM25 type), including its tests test_bm25_hash_collisions.py and
//     test_bm25_query_index_overflow.py, whose hash values are pinned in
//     bm25_test.go.
//   - Python's \w equals "category L*, N* or '_'" for every code point,
//     CPython's str.lower() equals unicode.ToLower for every code point
//     but U+0130 ('İ' becomes "i" + U+0307, and the combining mark then
//     splits the token), and capital sigma follows Unicode's Final_Sigma
//     rule (CPython's handle_capital_sigma); the Cased and Case_Ignorable
//     properties of word characters were compared exhaustively. These
//     comparisons ran against CPython 3.11 (Unicode 14.0); the only
//     differences were code points Unicode 14.0 does not assign. Go 1.26's
//     tables are Unicode 15.0.0, the version of CPython 3.12; under other
//     Python versions fastembed differs only on code points assigned in
//     between.
//   - The stemmer, github.com/kljensen/snowball/english, gave the same
//     stems as Snowball 2.2.0's C stemmer (Debian's stemwords) for all
//     364,851 distinct tokens of $GOROOT/src and 11,060 short non-ASCII
//     words. rust-stemmers 1.2.0, behind py_rust_stemmers, implements the
//     same classic Porter2: its tables hold the exceptions gener, commun,
//     arsen; skis, skies, dying, lying, tying, idly, gently, ugly, early,
//     only, singly, sky, news, howe, atlas, cosmos, bias, andes; and
//     inning, outing, canning, herring, earring, proceed, exceed, succeed.
//     Later Snowball revisions add exceptions such as "evening";
//     rust-stemmers 1.2.0 and this package do not have them. Words under three code points are
//     left alone, as Snowball's "not hop 3" does (the Go package counts
//     bytes; the guard here counts code points).
//   - The hash is MurmurHash3_x86_32 of the UTF-8 bytes, seed 0, read as
//     int32 (mmh3.hash), absolute value. Written out in this package and
//     pinned by SMHasher's verification value 0xB0F57EE3 and by published
//     mmh3 results ("foo" -156908512; "kitchens" 358434922,
//     "prostaglandins" -358434922 and "ad1u66pi" -2^31 from fastembed's
//     tests), and compared with github.com/spaolacci/murmur3 (whose unsafe
//     pointer arithmetic aborts under -race, which is why it is not used
//     at run time). -2^31 maps to 2^31, as fastembed's int64 indices do.
//   - testdata/bm25_golden.py re-implements fastembed's steps with
//     CPython's own re and str (Snowball 2.2.0's Python stemmer standing in
//     for py_rust_stemmers, its murmur3 checked against the published
//     values) and wrote testdata/bm25_golden.jsonl: crafted texts (code,
//     snake_case, punctuation, stopwords, numbers, accents, CJK, Greek
//     sigma, dotted I, combining marks, emoji, long tokens, hash
//     collisions) and the first kilobyte of 20 net/http files. Tokens,
//     indices and float64 values match exactly.
//
// Known differences and version notes:
//
//   - Indices come sorted ascending; fastembed lists them in first
//     occurrence order. Qdrant does not care.
//   - Values are the float64 computation rounded to float32, what Qdrant
//     stores.
//   - Two distinct stems with one id (|h| equal, as for "sensat" and
//     "vpcompressdmasked128"): fastembed's released code assigns
//     tf_map[token_id] per stem in first-occurrence order, so the stem that
//     first occurs later wins; so does this package. One fastembed
//     revision (the one adding tests/test_bm25_hash_collisions.py) sums the
//     colliding weights instead, calling the policy experimental; if it
//     ships, such (rare) documents will differ.
//   - The stopword list is NLTK's English list (179 words), the list
//     Qdrant's own text index uses for English. fastembed reads it from
//     the Qdrant/bm25 model repository's english.txt, which could not be
//     fetched here (no network), so that the file is this list is
//     unverified. Entries with an apostrophe can never match a token, so
//     NLTK's newer list (which only adds such contractions) gives the same
//     vectors.
//   - Recent fastembed keeps combining marks in remove_non_alphanumeric,
//     but its SimpleTokenizer still splits on them, so only a capital
//     sigma next to a combining mark can lower differently.
//
// # OpenAI-compatible servers
//
// NewOpenAI returns the Dense embedder. It posts
// {"model": ..., "input": [...], "dimensions": ...} to BaseURL +
// "/embeddings" and reads data[i].index and data[i].embedding, which
// vLLM, Hugging Face text-embeddings-inference (TEI), Ollama and OpenAI all
// speak:
//
//	server   BaseURL                       notes
//	vLLM     http://host:8000/v1           Model is the served model name; "dimensions" only for Matryoshka models
//	TEI      http://host:8080/v1           TEI caps batch size and input length and answers 4xx past them (see splitting)
//	Ollama   http://host:11434/v1          no key; Model is the Ollama tag, e.g. qwen3-embedding:8b
//	OpenAI   https://api.openai.com/v1     APIKey required; "dimensions" for text-embedding-3-*
//
// Configuration (OpenAIConfigFromEnv reads the variables; NewOpenAI
// applies the defaults to zero fields):
//
//	field             env                              default
//	BaseURL           JETRUN_EMBED_BASE_URL            required
//	Model             JETRUN_EMBED_MODEL               required
//	APIKey            JETRUN_EMBED_API_KEY             none (no Authorization header)
//	CredentialName    JETRUN_EMBED_CREDENTIAL          resolved with Lookup when APIKey is empty
//	Dimensions        JETRUN_EMBED_DIMENSIONS          0: the server's size, learned from the first response
//	BatchSize         JETRUN_EMBED_BATCH_SIZE          64 inputs per request
//	BatchTokens       JETRUN_EMBED_BATCH_TOKENS        8192 estimated tokens (characters/3) per request
//	Concurrency       JETRUN_EMBED_CONCURRENCY         4 requests in flight per client, across calls
//	MaxRetries        JETRUN_EMBED_MAX_RETRIES         6 (negative: none)
//	QueryInstruction  JETRUN_EMBED_QUERY_INSTRUCTION   none
//	Timeout           JETRUN_EMBED_TIMEOUT             60s per request
//	BackoffBase/Max   -                                500ms / 30s
//
// With a QueryInstruction, queries are sent as
// "Instruct: <instruction>\nQuery:<query>", the format of Qwen3-Embedding's
// get_detailed_instruct (no space after "Query:"); documents never get it.
//
// The API key travels only in the Authorization header. It is not in
// errors (server messages are scrubbed of it, URLs lose user info and
// query), nor in String, GoString or MarshalJSON of the configuration or
// the client. Request bodies are never quoted in errors; an error body is
// quoted only through its message field, truncated.
//
// # Retries and batch splitting
//
// Documents cuts its input into consecutive batches of at most BatchSize
// texts and BatchTokens estimated tokens (a text over the budget goes
// alone), sends up to Concurrency at once, and returns the vectors in
// input order. The first failure cancels the rest of the call.
//
// A network error, a per-request timeout, 408, 425, 429 and 5xx (but 501
// and 505) are retried up to MaxRetries times, after a jittered
// exponential delay (BackoffBase*2^n, between half and all of it, capped
// at BackoffMax) or, when the answer carries Retry-After (seconds or an
// HTTP date), after exactly that, capped at BackoffMax; a Retry-After also
// holds back this client's other requests. When retries run out the error
// wraps ErrRetriesExhausted and the last failure (a *StatusError or the
// network error).
//
// A 400, 413 or 422 blames the request's content: the batch is split in
// halves and each half sent again, recursively, so that one bad input
// (usually one longer than the model's context) cannot sink its
// neighbours. An input still rejected alone yields an *InputError with its
// index in the caller's slice, the status, the server's message and the
// input's estimated size, never its text; errors.Is(err, ErrInputRejected)
// holds, and the caller decides whether to skip, truncate or fail. A
// request-level problem answered with 400 (say, "dimensions" unsupported
// by the model) surfaces the same way, as input 0, with the server's
// message saying so. Other statuses fail at once with a *StatusError.
//
// Every 2xx answer is validated: one entry per input, each index present
// once and in range (entries may come in any order), non-empty vectors of
// a single size equal to Dimensions when set and to the size learned from
// earlier answers, finite values. Anything else is an ErrResponse error,
// not retried.
//
// # Testing
//
// Package embedtest runs an OpenAI-compatible server in process
// (embedtest.New) with deterministic hashed bag-of-words vectors,
// configurable latency, a cap on requests served at once, injected
// failures with Retry-After, and counters (requests, inputs, batch sizes,
// peak concurrency): the dense embedder's tests and any pipeline test use
// it instead of a model server.
//
//	go test -race ./pkg/embed/...                          # everything, < 3 s
//	go test -run XXX -fuzz FuzzBM25 ./pkg/embed            # BM25 never panics, indices unique, values finite and positive
//	go test -run XXX -bench BM25 ./pkg/embed               # MB/s and tokens/s over $GOROOT/src/net/http
//	/usr/bin/python3 testdata/bm25_golden.py "$(go env GOROOT)" > testdata/bm25_golden.jsonl
//
// The golden file is regenerated on Debian with python3-snowballstemmer
// installed; the script checks its murmur3 against the published values
// before writing anything. On one core of a shared 2-core machine BM25
// embeds net/http's sources at about 26 MB/s (2.8 million tokens/s).
package embed
