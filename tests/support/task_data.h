/*
 * task_data — the training data the tests write for themselves: a text
 * corpus and {"text"} JSONL for causal LMs, the "zebra" classification
 * task (does the word "zebra" occur?) in each label shape the trainer
 * reads, tinyshakespeare as JSONL, and a tiny encoder with a WordPiece
 * vocabulary of the task's words.
 *
 * Every writer is deterministic in its seed (util/rng.h, the library's
 * generator) and writes its file atomically; errors come back as codes
 * with a message in err (tests/support never CHECKs, see check.h).
 */
#ifndef ADA_TESTS_TASK_DATA_H
#define ADA_TESTS_TASK_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define TASK_N_WORDS 16
/* "the", "cat", "sat", ...: every word the writers use, "zebra" aside. */
extern const char *const task_words[TASK_N_WORDS];

/* Plain text: n_docs paragraphs (separated by blank lines) of six
 * sentences of eight random words. */
int task_write_corpus(const char *path, int n_docs, uint64_t seed, struct ada_err *err);

/* {"text"} JSONL of 24-word sentences, lines up to about max_bytes. */
int task_write_text_jsonl(const char *path, size_t max_bytes, uint64_t seed, struct ada_err *err);

/* The first max_bytes of assets' tinyshakespeare as {"text"} JSONL, one
 * line per speech (its paragraphs are separated by blank lines). */
int task_write_shakespeare_jsonl(const char *path, const char *assets, size_t max_bytes,
				 struct ada_err *err);

/* How the zebra task labels a line. */
enum zebra_kind {
	ZEBRA_INT,          /* {"text", "label": 0|1} */
	ZEBRA_PAIRS,        /* {"text_a", "text_b", "label": 0|1}: only text_b counts */
	ZEBRA_REGRESSION,   /* {"text", "label": 0.5 per zebra} */
	ZEBRA_STRING,       /* {"text", "label": "negative"|"positive"} */
};

/* n lines of 2..5 random words, "zebra" among them in about half.
 * last_label: JSON text to put as the last line's label instead (a label
 * the others never have, e.g. "\"maybe\"" or "2"); NULL: none. */
int task_write_zebra(const char *path, int n, uint64_t seed, enum zebra_kind kind,
		     const char *last_label, struct ada_err *err);

/* The zebra span task for extractive QA: n questions "where is the
 * zebra" over contexts of 8..14 random task words with "zebra <word>" at a
 * random place, the answer that two-word span; every impossible_every-th
 * question (0: none) has a context without it and no answer. squad: one
 * SQuAD v2.0 JSON document, else JSONL {"id","question","context",
 * "answers":{"text","answer_start"}}. */
int task_write_qa(const char *path, int n, uint64_t seed, int squad, int impossible_every,
		  struct ada_err *err);
/* The same task over long contexts (JSONL): n questions, each context
 * `words` random task words with "zebra <word>" at a random place (so with
 * short windows the answer falls in any of them). */
int task_write_qa_long(const char *path, int n, int words, uint64_t seed, struct ada_err *err);

/* dir/vocab.txt of vocab_size WordPiece tokens: [PAD] [UNK] [CLS] [SEP]
 * [MASK], "zebra", task_words, then fillers (w22, w23, ...). */
int task_write_vocab(const char *dir, int vocab_size, struct ada_err *err);

/* dir: a random tiny encoder (tiny_bert_config(arch), or
 * tiny_deberta_config() for "deberta-v2"; tiny_bert_random with seed) as a
 * Hugging Face directory, with task_write_vocab. */
int task_make_encoder(const char *arch, uint64_t seed, const char *dir, struct ada_err *err);

#endif
