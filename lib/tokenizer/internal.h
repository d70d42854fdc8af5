/*
 * internal — struct tokenizer and the pieces its source files share.
 *
 * Every tokenizer we load is the same pipeline with different settings:
 *
 *   text -> split out added/special tokens (special.c)
 *        -> per segment: normalizers (encode.c: Prepend, Replace, NFC, NFD,
 *           Lowercase, StripAccents; bert_norm.c: BERT's text cleaning and
 *           Chinese characters)
 *        -> pre-tokenizers into words (pretok.c: regex splits, ByteLevel,
 *           Metaspace, BERT's whitespace and punctuation split)
 *        -> per word: merges (merge.c: SentencePiece scores or BPE ranks,
 *           heap over adjacent pairs), WordPiece (wordpiece.c: greedy
 *           longest match) or Unigram (unigram.c: Viterbi over piece scores)
 *
 * Every stage can carry, beside its bytes, where each byte came from in the
 * caller's text (struct tspan, norm.c and pretok.c keep them up to date), so
 * tokenizer_encode_offsets() can say which characters a token stands for.
 *
 * and decoding (decode.c) is a per-token table of bytes computed at load
 * plus one rule (strip the dummy-prefix space of the first piece). Framing
 * a text or a pair of texts with special tokens ([CLS] a [SEP] b [SEP]) is
 * the post-processor template (pair.c). The loaders (spm.c, bpe.c,
 * wordpiece.c, hf_json.c) only fill in this struct, through the helpers of
 * tokenizer.c. Nothing here changes after load, which is what lets threads
 * share a tokenizer.
 */
#ifndef ADA_TOKENIZER_INTERNAL_H
#define ADA_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "util/strbuf.h"

/* Set out to s with every occurrence of a replaced by r (a empty: s as is);
 * normalisers' and decoders' Replace steps. 0, or -1 on OOM. */
static inline int replace_all(struct strbuf *out, const char *s, size_t len, const char *a,
			      size_t a_len, const char *r, size_t r_len)
{
	size_t i = 0, from = 0;

	out->n = 0;
	if (!a_len)
		return strbuf_add(out, s, len);
	while (i + a_len <= len) {
		if (s[i] == a[0] && !memcmp(s + i, a, a_len)) {
			if (strbuf_add(out, s + from, i - from) || strbuf_add(out, r, r_len))
				return -1;
			i += a_len;
			from = i;
		} else {
			i++;
		}
	}
	return strbuf_add(out, s + from, len - from);
}

/* Where one byte of an intermediate string came from: bytes [s, e) of the
 * text handed to tokenizer_encode_offsets (a whole code point, or the run a
 * normalizer rewrote as one). Bytes a step inserts (a dummy prefix) take the
 * span of the character they stand before, as Hugging Face aligns them. */
struct tspan {
	uint32_t s, e;
};

struct spanbuf {
	struct tspan *v;
	size_t n, cap;
};

int spanbuf_push(struct spanbuf *b, struct tspan sp);
/* Append n copies of sp. */
int spanbuf_fill(struct spanbuf *b, struct tspan sp, size_t n);
void spanbuf_release(struct spanbuf *b);
/* The smallest span covering sp[0..n) (n > 0). */
struct tspan span_cover(const struct tspan *sp, size_t n);

/* Token kinds; the values are GGUF's tokenizer.ggml.token_type. */
enum tok_type {
	TOKT_NORMAL = 1,
	TOKT_UNKNOWN = 2,
	TOKT_CONTROL = 3,       /* BOS, EOS, chat markers: no text when decoded */
	TOKT_USER = 4,          /* user-defined: matched verbatim, never split */
	TOKT_UNUSED = 5,
	TOKT_BYTE = 6,          /* <0xAB> byte fallback */
};

/* ---- vocab.c: token table and lookups -------------------------------- */

struct vocab_slot {
	int32_t id;             /* -1: empty */
	uint32_t hash;          /* high bits of the text's hash, to skip compares */
};

struct vocab {
	int32_t n;              /* tokens allocated */
	int32_t filled;         /* tokens added so far (ids 0..filled-1) */
	struct strbuf text;    /* all token texts back to back */
	size_t *off;            /* n + 1 offsets into text */
	float *score;           /* n */
	uint8_t *type;          /* n, enum tok_type */
	struct vocab_slot *slot; /* open-addressing text -> id table */
	size_t mask;            /* slot count - 1 */
};

int vocab_init(struct vocab *v, int32_t n);
/* Add token `filled` (tokens are added in id order). */
int vocab_add(struct vocab *v, const char *s, size_t len, float score, uint8_t type);
/* Build the lookup over tokens that text may turn into (normal, user-defined).
 * With duplicate texts the later id wins, as in llama.cpp. */
int vocab_index(struct vocab *v);
int32_t vocab_find(const struct vocab *v, const char *s, size_t len);
/* The byte a token spelled <0xAB> stands for, or -1. */
int vocab_byte_value(const char *s, size_t len);
static inline const char *vocab_text(const struct vocab *v, int32_t id, size_t *len)
{
	*len = v->off[id + 1] - v->off[id];
	return v->text.p + v->off[id];
}
void vocab_release(struct vocab *v);

/* Ranked merges: (left id, right id) -> (rank, merged id). One slot is one
 * 16-byte record so a probe touches one cache line. */
struct merge_slot {
	uint64_t key;           /* (left << 32 | right) + 1; 0 marks an empty slot */
	uint32_t rank;
	int32_t result;
};

struct merge_table {
	struct merge_slot *slot;
	size_t mask;
};

int merge_table_init(struct merge_table *m, size_t n_merges);
/* The first (lowest-rank) entry for a pair wins. */
void merge_table_add(struct merge_table *m, int32_t a, int32_t b, uint32_t rank, int32_t result);
int merge_table_find(const struct merge_table *m, int32_t a, int32_t b,
		     uint32_t *rank, int32_t *result);
void merge_table_release(struct merge_table *m);

/* ---- special.c: added tokens matched verbatim ----------------------- */

enum special_flags {
	SPECIAL_CONTROL = 1 << 0,  /* matched only with TOK_PARSE_SPECIAL */
	SPECIAL_LSTRIP = 1 << 1,   /* the match takes the white space before it */
	SPECIAL_RSTRIP = 1 << 2,   /* ... and after it (Hugging Face lstrip/rstrip) */
};

struct special {
	uint32_t off, len;      /* text in special_set.text */
	int32_t id;
	uint8_t first;          /* first byte, the bucket */
	unsigned flags;         /* enum special_flags */
};

struct special_set {
	struct strbuf text;
	struct special *v;
	size_t n;
	uint32_t bucket[257];   /* v sorted by first byte, then longest first */
};

/* flags: enum special_flags (1 = SPECIAL_CONTROL, so a 0/1 "control" works). */
int special_set_add(struct special_set *s, const char *text, size_t len, int32_t id,
		    unsigned flags);
void special_set_finish(struct special_set *s);
/* The leftmost-longest special token in text[from..len) that flags allow:
 * its start, length and id (white space it strips included, never before
 * from); or 0 when there is none. */
int special_set_next(const struct special_set *s, const char *text, size_t len,
		     size_t from, unsigned flags, size_t *at, size_t *mlen, int32_t *id);
void special_set_release(struct special_set *s);

/* ---- normalizers and pre-tokenizers ---------------------------------- */

enum norm_kind {
	NORM_PREPEND,           /* prepend a (non-empty segments; the dummy prefix) */
	NORM_REPLACE,           /* every a becomes b */
	NORM_NFC,
	NORM_NFD,
	NORM_LOWERCASE,         /* full lowercase of each code point */
	NORM_STRIP_ACCENTS,     /* drop nonspacing marks (after NFD) */
	NORM_BERT_CLEAN,        /* BERT: drop NUL, U+FFFD and controls, white space to ' ' */
	NORM_BERT_CHINESE,      /* BERT: a space either side of each CJK ideograph */
	NORM_STRIP,             /* drop white space at the start (a holds 'l') and the
	                         * end (a holds 'r'): Hugging Face's Strip */
	NORM_COLLAPSE_SPACES,   /* each run of two or more ' ' becomes b (Hugging
	                         * Face's Replace with the Regex " {2,}") */
	NORM_PRECOMPILED,       /* SentencePiece's precompiled charsmap (charsmap.c) */
};

struct norm_step {
	enum norm_kind kind;
	char *a, *b;            /* owned */
	size_t a_len, b_len;
};

enum pretok_kind {
	PRETOK_SPLIT_GPT2,      /* the GPT-2 regex, Isolated */
	PRETOK_SPLIT_LLAMA3,    /* Llama 3: digits in runs of up to 3 */
	PRETOK_SPLIT_QWEN2,     /* Qwen2: single digits */
	PRETOK_BYTELEVEL,       /* bytes to GPT-2's printable alphabet */
	PRETOK_METASPACE,       /* spaces to the replacement, prefix, optional split */
	PRETOK_SPACE_RUNS,      /* split before each run of repl: not a format's
	                         * component but a speed-up tokenizer_finish adds
	                         * when no token could span such a cut */
	PRETOK_BERT,            /* BERT: split at white space (dropped) and around
	                         * each punctuation character (kept alone) */
	PRETOK_WHITESPACE,      /* split at white space, which is dropped (Hugging
	                         * Face's WhitespaceSplit) */
};

enum prepend_scheme { PREPEND_NEVER, PREPEND_FIRST, PREPEND_ALWAYS };

struct pretok_step {
	enum pretok_kind kind;
	int add_prefix_space;          /* ByteLevel: a space before words lacking one */
	int use_regex;                 /* ByteLevel: split with the GPT-2 regex first */
	char repl[8];                  /* Metaspace replacement, UTF-8 */
	size_t repl_len;
	enum prepend_scheme prepend;   /* Metaspace */
	int split;                     /* Metaspace: words start at each replacement */
};

/* Where a word sits, for the steps that add a prefix space. */
enum word_flags {
	WORD_AT_START = 1 << 0,        /* starts at the beginning of the input */
	WORD_NO_PREFIX = 1 << 1,       /* a continuation: never add a prefix space */
};

/* Receives each finished word, with the span of each of its bytes (NULL
 * when nobody asked for offsets); returns an ada code. */
typedef int (*word_sink)(void *arg, const char *w, size_t len, const struct tspan *sp,
			 struct ada_err *err);

/* Scratch for pretok_run: two buffers (and two span buffers) per step,
 * reused across calls. */
struct pretok_scratch {
	struct strbuf *buf;
	struct spanbuf *spans;
	size_t n;
};

/* Run text through the pre-tokenizer steps, handing every resulting word
 * to sink in order. Words stream through: nothing the size of the input is
 * built beyond what a rewriting step must hold. sp (may be NULL) gives
 * each byte of text its span; the words' spans follow from it. */
int pretok_run(const struct pretok_step *steps, size_t n_steps, struct pretok_scratch *ps,
	       const char *text, size_t len, const struct tspan *sp, unsigned flags,
	       word_sink sink, void *arg, struct ada_err *err);
void pretok_scratch_release(struct pretok_scratch *ps);

/* GPT-2's bytes_to_unicode() and its inverse (-1: not in the alphabet). */
uint32_t bytelevel_cp(uint8_t b);
int bytelevel_byte(uint32_t cp);

/* bert_norm.c: the two BERT-only normalizer steps (s valid UTF-8, the
 * result appended to out; 0 or -1 on OOM). */
int bert_clean_text(const char *s, size_t len, struct strbuf *out);
int bert_pad_chinese(const char *s, size_t len, struct strbuf *out);
/* BERT's punctuation: ASCII punctuation or a P* code point. */
int bert_is_punct(uint32_t cp);

/* ---- merge.c: the per-word merge loop --------------------------------- */

enum tok_algo {
	TOK_ALGO_SCORED,        /* SentencePiece: best merged-token score first */
	TOK_ALGO_RANKED,        /* BPE: lowest merge rank first */
	TOK_ALGO_WORDPIECE,     /* WordPiece: greedy longest match (wordpiece.c) */
	TOK_ALGO_UNIGRAM,       /* Unigram: the best-scoring segmentation (unigram.c) */
};

/* Where the pieces of one word go: ids into out and, when offs is not NULL,
 * each id's span (two int32 per id: start, end) into offs, from the
 * word's byte spans sp. */
struct word_out {
	struct ivec *out;
	struct ivec *offs;
	const struct tspan *sp;
};

/* Push id standing for bytes [start, start + len) of the word. */
int word_out_push(struct word_out *wo, int32_t id, size_t start, size_t len);

struct merge_scratch;

/* Encode one word (after normalization and pre-tokenization) into wo. */
int merge_word(const struct tokenizer *t, const char *w, size_t len,
	       struct merge_scratch **scratch, struct word_out *wo, struct ada_err *err);
void merge_scratch_free(struct merge_scratch *s);

/* ---- unigram.c: the Unigram model ------------------------------------ */

struct unigram_scratch;

/* Encode one word by Viterbi over the vocabulary's scores (see unigram.c). */
int unigram_word(const struct tokenizer *t, const char *w, size_t len,
		 struct unigram_scratch **scratch, struct word_out *wo, struct ada_err *err);
void unigram_scratch_free(struct unigram_scratch *s);
/* After the vocabulary is indexed: the unknown penalty and the longest
 * piece, from the scores of the normal pieces. */
void unigram_init(struct tokenizer *t);

/* ---- charsmap.c: SentencePiece's precompiled normalization ------------- */

/* The blob as SentencePiece stores it: u32 trie bytes, a darts-clone
 * double array, then NUL-terminated replacement strings. */
struct charsmap {
	uint32_t *units;        /* owned copy of the double array */
	size_t n_units;
	char *repl;             /* owned replacement strings */
	size_t repl_len;
};

/* Check and copy blob[0..len); ADA_EFORMAT naming what is wrong. */
int charsmap_load(struct charsmap *m, const void *blob, size_t len, const char *source,
		  struct ada_err *err);
void charsmap_release(struct charsmap *m);
/* The longest rule matching a prefix of s[0..len): its length in *used (0:
 * none) and its replacement (borrowed, *rlen bytes). */
const char *charsmap_match(const struct charsmap *m, const char *s, size_t len, size_t *used,
			   size_t *rlen);
/* Normalize s (valid UTF-8) into out as SentencePiece does: at each
 * position the longest rule, else the character as it is; spans (when
 * in_sp is not NULL) follow. 0, or -1 on OOM. */
int charsmap_apply(const struct charsmap *m, const char *s, size_t len,
		   const struct tspan *in_sp, struct strbuf *out, struct spanbuf *out_sp);

/* ---- wordpiece.c: the WordPiece model ---------------------------------- */

/* Encode one word into wo; key is scratch for the prefixed lookups. */
int wordpiece_word(const struct tokenizer *t, const char *w, size_t len, struct strbuf *key,
		   struct word_out *wo, struct ada_err *err);
/* Set the algorithm and its piece spellings (see struct tokenizer); after
 * the vocabulary is indexed and t->unk set. */
int wordpiece_init(struct tokenizer *t, const char *first, const char *next,
		   size_t max_chars, struct ada_err *err);
/* BERT's text pipeline for vocabularies that do not describe their own
 * (vocab.txt, GGUF): clean text, Chinese characters, optional accent
 * stripping and lowercasing, the BERT pre-tokenizer. */
int wordpiece_bert_pipeline(struct tokenizer *t, int lowercase, int strip_accents,
			    int chinese);

/* ---- the tokenizer ----------------------------------------------------- */

/* How a token's text becomes bytes, applied in order (Hugging Face's
 * per-token decoders; our SentencePiece and GPT-2 loaders use the same). */
enum dec_kind {
	DEC_REPLACE,            /* every a becomes b (U+2581 -> ' ') */
	DEC_BYTEFALLBACK,       /* a token spelled <0xAB> is the byte 0xAB */
	DEC_BYTELEVEL,          /* GPT-2 alphabet back to bytes, if every char maps */
	DEC_WORDPIECE,          /* a piece starting with a ("##") loses it; any
	                         * other starts a word: a space before it */
};

struct dec_step {
	enum dec_kind kind;
	char *a, *b;            /* owned (DEC_REPLACE) */
	size_t a_len, b_len;
};

/* A post-processor template: the token ids around and between the texts.
 * Items are special tokens (id >= 0) or the texts (TMPL_SEQ_A/B), each with
 * the token type id its tokens get. */
#define TMPL_MAX 16
#define TMPL_SEQ_A (-1)
#define TMPL_SEQ_B (-2)

struct tmpl_item {
	int32_t id;
	uint8_t type_id;
};

struct pair_template {
	struct tmpl_item single[TMPL_MAX], pair[TMPL_MAX];
	int n_single, n_pair;          /* n_single 0: no template (decoder style);
	                                * n_pair 0: single texts only */
};

/* pair.c: BERT's [CLS] a [SEP] (b [SEP]) with types 0 / 1, and RoBERTa's
 * <s> a </s> (</s> b </s>) with types 0. */
void pair_template_bert(struct pair_template *p, int32_t cls, int32_t sep);
void pair_template_roberta(struct pair_template *p, int32_t cls, int32_t sep);
/* Every special id of t->tmpl inside the vocabulary (tokenizer_finish). */
int pair_template_check(const struct tokenizer *t, struct ada_err *err);

struct tokenizer {
	char kind[16];                 /* "spm", "gpt2", "hf-bpe", "wordpiece", "unigram" */
	char *source;                  /* owned copy of the path, for errors */
	enum tok_algo algo;
	struct vocab vocab;
	struct merge_table merges;     /* TOK_ALGO_RANKED */
	int byte_fallback;             /* unknown characters become <0xAB> tokens */
	int32_t byte_tok[256];         /* id of <0xAB>, -1 if absent */
	int ignore_merges;             /* a word that is a token is not split */
	int fuse_unk;                  /* consecutive unknowns become one <unk> */
	/* Unigram: an unknown character's score (the lowest normal piece's
	 * minus 10, as SentencePiece), the longest piece in bytes */
	double unk_score;
	size_t max_piece_bytes;
	struct charsmap charsmap;      /* NORM_PRECOMPILED's rules */
	int32_t unk, bos, eos, pad;    /* -1 if none */
	int add_bos, add_eos;          /* what the tokenizer's own config asks for */
	char *chat_template;           /* the chat template text beside it, owned; NULL: none */
	size_t chat_template_len;

	/* WordPiece: how pieces are spelled in the vocabulary. A word's first
	 * piece is wp_first + text, the pieces after it wp_next + text:
	 * "" and "##" in Hugging Face vocabularies, U+2581 and "" in
	 * llama.cpp's GGUF. A word of more than wp_max_chars code points is
	 * one unknown token; no piece is longer than wp_max_key bytes. */
	char wp_first[8], wp_next[8];
	size_t wp_first_len, wp_next_len;
	size_t wp_max_chars, wp_max_key;

	struct pair_template tmpl;     /* encoder framing (pair.c) */

	struct norm_step *norm;
	size_t n_norm;
	struct pretok_step *pretok;
	size_t n_pretok;
	struct special_set specials;

	/* Decoding: the bytes of each token (built by tokenizer_build_pieces
	 * from dec), and whether the first piece of a sequence loses its
	 * leading space (the dummy prefix). */
	struct dec_step *dec;
	size_t n_dec;
	struct strbuf piece_text;
	size_t *piece_off;             /* vocab.n + 1 */
	int strip_first_space;
	size_t max_piece;              /* longest piece_text entry */
};

/* A zeroed tokenizer with ids set to -1; NULL on OOM. */
struct tokenizer *tokenizer_alloc(const char *kind, const char *source);
/* dir(path)/name, malloc'ed (NULL on OOM): files that sit beside a
 * tokenizer file (tokenizer_config.json). */
char *tokenizer_sibling(const char *path, const char *name);
/* After the vocab is filled: find <0xAB> tokens, index the vocab. */
int tokenizer_index_vocab(struct tokenizer *t, struct ada_err *err);
/* Append a normalizer / pre-tokenizer / decoder step (strings copied). */
int tokenizer_add_norm(struct tokenizer *t, enum norm_kind kind, const char *a, size_t a_len,
		       const char *b, size_t b_len);
int tokenizer_add_pretok(struct tokenizer *t, const struct pretok_step *step);
int tokenizer_add_dec(struct tokenizer *t, enum dec_kind kind, const char *a, size_t a_len,
		      const char *b, size_t b_len);
/* Precompute every token's decoded bytes: control and unknown tokens give
 * none; the others run through the decoder steps. */
int tokenizer_build_pieces(struct tokenizer *t, struct ada_err *err);
/* What every loader ends with: ids checked against the vocabulary, special
 * tokens indexed, decoding pieces built, speed-ups that change no result
 * added. On success *out = t; on failure t is freed. */
int tokenizer_finish(struct tokenizer *t, struct tokenizer **out, struct ada_err *err);

/* ---- loaders ------------------------------------------------------------ */

struct gguf;

/* hf_json.c: a parsed tokenizer.json (root borrowed); path names it in
 * errors and locates tokenizer_config.json beside it. */
#include <jansson.h>
int tokenizer_load_hf_root(const char *path, json_t *root, struct tokenizer **out,
			   struct ada_err *err);

/* gguf_vocab.c: tokenizer.ggml.{tokens,scores,token_type} into t->vocab and
 * the special ids (bos, eos, unknown, padding, add_bos/eos_token) into t. */
int gguf_vocab_read(const struct gguf *g, struct tokenizer *t, struct ada_err *err);

/* spm.c (model "llama"), bpe.c (model "gpt2") and wordpiece.c (model
 * "bert"); t has its vocab already. */
int spm_setup_gguf(const struct gguf *g, struct tokenizer *t, struct ada_err *err);

/* norm.c: run the normalizers over seg (sp: its spans, or NULL) into *out
 * (seg itself when there are none; else a or b), spans into *out_sp. */
struct norm_scratch {
	struct strbuf a, b, tmp;
	struct spanbuf sa, sb;
};
int normalize_segment(const struct tokenizer *t, struct norm_scratch *ns, const char *seg,
		      size_t len, const struct tspan *sp, int no_prefix, const char **out,
		      size_t *out_len, const struct tspan **out_sp);
void norm_scratch_release(struct norm_scratch *ns);

/* spm_model.c: does data start like a ModelProto (a piece with text and
 * score)? */
int spm_sniff(const void *data, size_t len);

/* base64 (standard alphabet, padding optional) into out; -1 when s is not
 * base64 or out of memory. */
int base64_decode(const char *s, size_t len, struct strbuf *out);
int bpe_setup_gguf(const struct gguf *g, struct tokenizer *t, struct ada_err *err);
int wordpiece_setup_gguf(const struct gguf *g, struct tokenizer *t, struct ada_err *err);

#endif
