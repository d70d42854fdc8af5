/*
 * peft_import — read an adapter (ours, or a PEFT one) and attach it to a
 * frozen model's network (`--adapter DIR`).
 *
 * Reads adapter_config.json and adapter_model.safetensors (F32, F16 or
 * BF16), and labels.json when there is one (export_peft.h):
 *
 *   LORA, ADALORA   low-rank factors: every key must name a module of the
 *                   model ("base_model.model.<module path>.lora_{A,B,E}
 *                   [.weight]", Llama or BERT paths) with shapes that fit
 *                   it. Scales follow PEFT: AdaLoRA alpha / (init_r + 1e-5)
 *                   whatever was kept; LoRA alpha / r with rank_pattern /
 *                   alpha_pattern per module (alpha / sqrt(r) with
 *                   use_rslora). q_proj / k_proj lora_B rows are permuted
 *                   from Hugging Face's rotate-half order to our RoPE pairs.
 *   BITFIT, BOTTLENECK, FULL (ours)
 *                   tensors named "base_model.model.<Hugging Face name>":
 *                   the model's own weights they replace (net_slots.h),
 *                   Houlsby bottlenecks ("<path>.adapter.{down,up}.*").
 *
 * A classifier's adapter (task_type "SEQ_CLS") carries its head as PEFT's
 * modules_to_save: base_model.model.classifier.* (BERT, RoBERTa) or
 * base_model.model.score.weight (Llama); the label map comes from
 * labels.json, or without one is taken as classes 0..n-1 (one output: a
 * regression). Options that change the math in ways we do not implement
 * (DoRA, biases, fan_in_fan_out, modules other than the head to save) are
 * refused by name, as is every tensor that finds no place in the model.
 */
#ifndef ADA_ADAPTER_PEFT_IMPORT_H
#define ADA_ADAPTER_PEFT_IMPORT_H

#include "adalora.h"
#include "model/model.h"
#include "nn/bart.h"
#include "nn/bert.h"
#include "nn/bottleneck.h"
#include "nn/heads.h"
#include "nn/llama.h"
#include "nn/lowrank.h"
#include "data/class_data.h"

struct peft_module {
	int layer;
	int module;             /* enum llama_module or enum bert_module */
	struct lowrank *lr;     /* owned; P, Q, g point into mem */
};

/* A tensor that is not a low-rank factor: the head, a model weight it
 * replaces, a bottleneck's. Values as the file holds them (Hugging Face
 * layout), converted to f32. */
struct peft_tensor {
	char name[160];         /* without "base_model.model." */
	uint32_t n_dims;        /* 1 or 2 */
	uint64_t rows, cols;    /* 1-D: rows = 1 */
	float *data;            /* owned */
	int used;               /* found its place when attached */
};

struct peft_adapter {
	char peft_type[16];     /* "LORA", "ADALORA", "BITFIT", "BOTTLENECK", "FULL" */
	struct peft_module *mods;
	int n_mods;
	float *mem;             /* owned: every A, B, E (or gate of ones) */
	struct peft_tensor *tensors;   /* owned [n_tensors] */
	int n_tensors;
	/* a classifier's */
	int classifier;         /* task_type SEQ_CLS: the adapter carries a head */
	int seq2seq;            /* task_type SEQ_2_SEQ_LM (an encoder-decoder's) */
	int n_labels;           /* head outputs (1: regression) */
	struct label_map labels;
	int seq_len;            /* the training job's (labels.json, qa.json), 0 when unknown */
	/* extractive QA's (task_type QUESTION_ANS): qa_outputs and qa.json */
	int question_answering;
	struct ada_hparams qa_hp;   /* doc_stride, max_query_length, max_answer_length,
	                             * n_best_size, null_score_diff_threshold (defaults when
	                             * qa.json is absent) */
	int qa_version_2;           /* qa.json's version_2_with_negative (0 when absent) */
	/* BOTTLENECK */
	int adapter_size;
	enum bottleneck_act act;
	struct bottleneck **bns;   /* owned [n_bns]: per layer attention, FFN */
	int n_bns;
};

/* Read dir for a model of cfg. pa is the caller's; release it with
 * peft_adapter_release() (also after an error). */
int peft_adapter_load(const char *dir, const struct model_config *cfg, struct peft_adapter *pa,
		      struct ada_err *err);

/* Put the adapter on the network of cfg's family (llama or bert, borrowed;
 * the other NULL): low-rank adapters on their linear layers, replaced
 * weights and bottlenecks in place, and, for a classifier, the weights of
 * head (borrowed; set up by seq_head_from_model with pa->n_labels). Errors
 * name the tensor that fits nowhere or a part that is missing. */
int peft_adapter_attach(struct peft_adapter *pa, const struct model_config *cfg,
			struct llama_net *llama, struct bert_net *bert, struct seq_head *head,
			struct ada_err *err);
/* A QA adapter's qa_outputs into qa (weight [2][dim] and bias [2], borrowed
 * from pa); before peft_adapter_attach. */
int peft_adapter_attach_qa(struct peft_adapter *pa, const struct model_config *cfg,
			   struct linear *qa, struct ada_err *err);
/* The same for a BART network (borrowed): LoRA / AdaLoRA factors on the
 * linear layers of its encoder and decoder ("base_model.model.model.
 * encoder.layers.N.self_attn.q_proj.lora_A...", "...decoder.layers.N.
 * encoder_attn.k_proj..."); any other kind of adapter, or a tensor that
 * is not a factor, is refused. */
int peft_adapter_attach_bart(struct peft_adapter *pa, const struct model_config *cfg,
			     struct bart_net *bart, struct ada_err *err);
void peft_adapter_release(struct peft_adapter *pa);

#endif
