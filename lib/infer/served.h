/*
 * served — models as serving holds them: a base loaded once and shared,
 * adapters applied to it without merging (struct ada_served, adalora.h).
 *
 * A base (struct served_base) owns the model (its weights stay in the file
 * mapping, in their own type), the tokenizer, the networks bound to the
 * frozen weights, the RoPE tables of its whole context and the chat
 * framing of its template. An adapter (struct served_adapter) owns what
 * peft_import read and a copy of the network's small descriptor structs
 * (llama_net + blocks: pointers, no weights) with the adapter attached to
 * the copy: LoRA and AdaLoRA factors on the linear slots, BitFit's and FULL's
 * replaced weights in their slots, Houlsby bottlenecks on the blocks, a
 * classifier's head, a question answering job's qa_outputs. The base's
 * own network is never touched, so any
 * number of adapters sit on one base, and the base's pages are mapped once.
 *
 * Both are reference counted and immutable once open: decoding reads them
 * from any thread (batch_decode.c computes adapters with its own scratch,
 * never through the adapters' caches). Classification and question
 * answering run the training forward, which does use an adapter's caches,
 * so they hold the adapter's lock.
 */
#ifndef ADA_INFER_SERVED_H
#define ADA_INFER_SERVED_H

#include <pthread.h>
#include <stdatomic.h>

#include "adalora.h"
#include "adapter/peft_import.h"
#include "model/model.h"
#include "net/classifier.h"
#include "net/lm_encoder.h"
#include "net/span_net.h"
#include "nn/bert.h"
#include "nn/heads.h"
#include "nn/llama.h"
#include "tokenizer/tokenizer.h"

struct served_base {
	atomic_int refs;
	struct model *model;          /* owned */
	struct tokenizer *tok;        /* owned */
	struct llama_net net;         /* the Llama family */
	struct llama_block *blocks;   /* owned */
	struct bert_net bert;         /* the BERT family */
	struct bert_block *bert_blocks;   /* owned */
	float *rope_cos, *rope_sin;   /* owned [context][head_dim / 2] */
	struct lm_encoder enc;        /* prompts and chat rendering (Llama family) */
	int32_t bos, eos;             /* -1 when the tokenizer has none */
	int32_t end_of_turn;          /* the chat template's end-of-turn token, or -1 */
	int64_t weight_bytes;         /* the matrices as stored (the mapping's share) */
	char *name;                   /* owned: what messages call it */
};

struct served_adapter {
	atomic_int refs;
	struct served_base *base;     /* a reference */
	struct peft_adapter pa;
	struct llama_net net;         /* the base's, with the adapter attached */
	struct llama_block *blocks;   /* owned */
	struct bert_net bert;
	struct bert_block *bert_blocks;   /* owned */
	struct seq_head head;         /* a classifier's */
	int is_classifier;
	struct classifier cls;
	char **label_names;           /* owned [pa.n_labels]: a classifier's labels as text */
	struct linear qa;             /* a QA adapter's qa_outputs (weights in pa) */
	int is_qa;
	struct span_net span;         /* valid when is_qa */
	pthread_mutex_t lock;         /* classification, QA: the adapter's caches */
	int64_t bytes;                /* what the adapter holds in memory */
};

struct ada_served {
	struct served_base *base;     /* a reference */
	struct served_adapter *ad;    /* a reference, or NULL */
	const struct llama_net *net;  /* ad's or base's (Llama family) */
};

int served_base_open(const char *model, const char *tokenizer, struct served_base **out,
		     struct ada_err *err);
struct served_base *served_base_ref(struct served_base *b);
void served_base_unref(struct served_base *b);

/* An adapter for b (a reference is taken). */
int served_adapter_open(struct served_base *b, const char *dir, struct served_adapter **out,
			struct ada_err *err);
struct served_adapter *served_adapter_ref(struct served_adapter *a);
void served_adapter_unref(struct served_adapter *a);

/* A handle over b and a (a may be NULL); takes a reference on each. */
int served_handle(struct served_base *b, struct served_adapter *a, struct ada_served **out,
		  struct ada_err *err);

#endif
