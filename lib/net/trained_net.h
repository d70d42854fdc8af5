/*
 * trained_net — a trainable network for one job: the frozen model's weights,
 * the method's trainable tensors in a parameter arena, and the pointers
 * that tie them to the network.
 *
 *   lora / lora_prune  a low-rank adapter (lora_A, lora_B) per targeted
 *                      module; B = 0, A ~ kaiming-uniform(a = sqrt 5) as
 *                      PEFT; the gate g is a fixed vector of ones (LoRA) or
 *                      the allocator's 0/1 mask (lora_prune).
 *   adalora            SVD triplets (lora_A = Q, lora_E = lambda, lora_B =
 *                      P); lambda = 0, P, Q ~ N(0, 0.02^2) (adalora.md s.1)
 *   full               every weight copied into the arena and trained
 *   bitfit             every linear and LayerNorm bias copied and trained
 *   adapter            two Houlsby bottlenecks per layer (after attention,
 *                      after the FFN; down ~ N(0, 0.02^2), up = 0 so each
 *                      starts as the identity) and the layers' norms
 *
 * A network is a Llama decoder (language model or classifier), a BERT
 * encoder (classifier) or a BART encoder-decoder (sequence to sequence,
 * with low-rank adapters only: lora, adalora, lora_prune). A classifier's head (heads.h, Hugging Face's
 * ...ForSequenceClassification: BERT's classifier on the frozen pretrained
 * pooler, RoBERTa's classifier.dense + classifier.out_proj, Llama's score)
 * always trains, whatever the method, with weights ~ N(0, 0.02^2) and
 * biases 0; full fine-tuning trains BERT's pooler as well. Extractive QA
 * (an encoder) has ...ForQuestionAnswering's qa_outputs (Linear(dim, 2),
 * start and end logits), trained the same way; it has no pooler.
 *
 * The model's own weights are found through net_slots.h (Hugging Face
 * names), so full fine-tuning, BitFit and the adapter baseline are choices
 * of slots. Arena tensors are named as the export writes them: PEFT keys
 * ("base_model.model.<module path>.lora_A.weight", "base_model.model.
 * classifier.weight") and, for the model's own weights and the bottlenecks,
 * "base_model.model.<Hugging Face name>". Initial values are drawn from
 * RNG streams keyed by the job's seed (adapters, head, bottlenecks each
 * their own), in a fixed order: the same seed gives the same start on any
 * machine.
 */
#ifndef ADA_NET_TRAINED_NET_H
#define ADA_NET_TRAINED_NET_H

#include <stdint.h>

#include "adalora.h"
#include "net/classifier.h"
#include "model/model.h"
#include "nn/bart.h"
#include "nn/bert.h"
#include "nn/bottleneck.h"
#include "nn/heads.h"
#include "nn/llama.h"
#include "nn/lowrank.h"
#include "net/params.h"
#include "net/span_net.h"

/* What the network computes. */
struct net_spec {
	enum ada_task task;       /* ADA_TASK_CAUSAL_LM, ADA_TASK_CLASSIFICATION or
	                           * ADA_TASK_QUESTION_ANSWERING (an encoder) or
	                           * ADA_TASK_SEQ2SEQ (a BART model) */
	int n_labels;             /* classification: head outputs (1 = regression) */
	int regression;
};

/* Where the tensors of one adapted module sit in the arena. */
struct adapted_module {
	int layer;
	int module;              /* enum llama_module or enum bert_module (model_n_modules) */
	struct lowrank *lr;      /* owned */
	int t_A, t_B, t_E;       /* arena tensor indices (t_E = -1 unless adalora) */
	int init_r;
	float *fixed_gate;       /* lora / lora_prune: [init_r] ones or mask, in gates */
};

/* How an arena tensor reaches the network: adapter factors through their
 * struct adapted_module (w == NULL here), everything else through a weight
 * and a gradient pointer of the network, its head or a bottleneck. */
enum tensor_init {
	INIT_ZERO,               /* biases, the up projection of a bottleneck */
	INIT_COPY,               /* the model's own weight (from) */
	INIT_NORMAL,             /* N(0, 0.02^2): a head's or a bottleneck's new weights */
};

struct tensor_binding {
	const real **w;          /* borrowed from the trained_net; NULL: an adapter factor */
	real **g;
	int rope_heads;          /* a Llama Q/K weight or bias (see net_slots.h), else 0 */
	enum tensor_init init;
	const float *from;       /* INIT_COPY: the model's values (borrowed) */
	const struct frozen_mat *from_fw;   /* INIT_COPY when from is NULL: the model's
	                          * matrix in its file's type (F16/BF16), widened */
};

/* Must not move once built: bindings point into it. */
struct trained_net {
	const struct model *model;    /* borrowed */
	struct ada_method method;
	struct net_spec spec;
	struct llama_net net;         /* the Llama family */
	struct llama_block *blocks;   /* owned [n_layers] */
	struct bert_net bert;         /* the BERT family */
	struct bert_block *bert_blocks;   /* owned [n_layers] */
	struct bart_net bart;         /* BART */
	struct bart_block *bart_blocks;   /* owned [n_layers]: encoder, then decoder */
	struct seq_head head;         /* classification */
	struct classifier cls;        /* classification: the network as a classifier */
	struct linear qa;             /* question answering: qa_outputs [2][dim] + bias */
	struct span_net span;         /* question answering: the network as a span model */
	struct param_arena arena;
	struct tensor_binding *binds; /* owned [arena.n_tensors] */
	struct adapted_module *mods;  /* owned [n_mods], layer-major, module order */
	int n_mods;
	float *gates;                 /* owned: fixed gates of lora / lora_prune */
	struct bottleneck **bns;      /* owned [n_layers][2] (attention, FFN); adapter only */
	int n_bns;
	struct frozen_bf16 *bf16;     /* borrowed: compute_dtype bf16 scratch, or NULL */
};

/* Build the network for method and spec over model; init from seed. With
 * init_weights = 0 the arena is left zeroed (a checkpoint will fill it).
 * Refuses what the model cannot do: a BERT language model, a BERT
 * classifier without its pretrained pooler, bitfit where nothing would
 * train (a Llama language model without biases), a BART model for any task
 * but seq2seq or with a method other than lora, adalora, lora_prune
 * (param "method.type"), seq2seq on a model that is not BART. */
int trained_net_build(struct trained_net *tn, const struct model *model,
		      const struct ada_method *method, const struct net_spec *spec, uint64_t seed,
		      int init_weights, struct ada_err *err);
void trained_net_release(struct trained_net *tn);

/* AdaLoRA after the freeze: rebuild the arena keeping, for adapter i, only
 * the triplets with keep[i][j] != 0 (weights and both moments; gradients
 * zeroed), and shrink the adapters to match. Other tensors keep their
 * values. */
int trained_net_compact(struct trained_net *tn, const uint8_t *const *keep,
			struct ada_err *err);
/* Reshape the arena to adapter ranks ranks[i] without keeping values (a
 * checkpoint taken after compaction is about to fill it). */
int trained_net_reshape(struct trained_net *tn, const int *ranks, struct ada_err *err);

/* Trainable parameters of method and spec on model into *n (registered,
 * not allocated): cheap, and it refuses what trained_net_build refuses,
 * with the same error. */
int trained_net_count(const struct model *model, const struct ada_method *method,
		      const struct net_spec *spec, int64_t *n, struct ada_err *err);

/* Index into tn->mods of (layer, module), or -1 when not adapted. */
int trained_net_find(const struct trained_net *tn, int layer, int module);

/* Point the network at the arena again (after the arena was replaced). */
void trained_net_bind(struct trained_net *tn);

/* compute_dtype bf16 (bf: the scratch, borrowed until release; NULL: f32):
 * the decoder blocks' frozen products run in bf16 through nn/frozen.h. */
void trained_net_set_bf16(struct trained_net *tn, struct frozen_bf16 *bf);

#endif
