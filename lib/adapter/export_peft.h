/*
 * export_peft — a trained adapter as Hugging Face PEFT saves one, so that
 * PeftModel.from_pretrained() loads it (adalora.md section 7):
 *
 *   DIR/adapter_model.safetensors   f32 tensors, metadata {"format": "pt"}
 *   DIR/adapter_config.json
 *
 * AdaLoRA adapters are sliced to their kept triplets (lora_A [k, in],
 * lora_B [out, k], lora_E [k, 1], k possibly 0) and rank_pattern records
 * the kept triplets of every module ("<module path>.lora_E": [bool x
 * init_r]); scale stays alpha / init_r because loaders take it from init_r.
 * LoRA adapters are written whole. lora_prune adapters are LoRA adapters
 * sliced to their kept doublets with rank_pattern / alpha_pattern per
 * module (alpha scaled by k / r so alpha / k keeps the trained scale);
 * modules pruned to rank 0 are left out of target_modules, since PEFT's
 * LoRA refuses r = 0.
 *
 * The rows of lora_B for q_proj and k_proj are written in the Hugging Face
 * (rotate-half) order, as PEFT would have them on the HF model; our
 * weights use adjacent RoPE pairs (model.h), so they are permuted here and
 * back on import (so are Q/K weights and biases a method trains whole).
 *
 * Classifiers (task_type "SEQ_CLS") save their head the way PEFT saves
 * modules_to_save: "modules_to_save": ["classifier"] (BERT, RoBERTa),
 * ["classifier", "pooler"] (DeBERTa, whose ContextPooler is new) or
 * ["score"] (Llama), tensors under base_model.model.classifier.weight,
 * .bias, classifier.dense.*, classifier.out_proj.*, pooler.dense.*,
 * base_model.model.score.weight (PEFT strips "modules_to_save.<adapter
 * name>" from the keys). The label map goes to DIR/labels.json beside them, not into
 * adapter_config.json: PEFT versions before 0.14 refuse a config key they
 * do not know.
 *     {"num_labels", "label_kind": "int"|"string"|"float", "labels": [names
 *      by class id] (none for regression), "problem_type":
 *      "single_label_classification"|"regression", "seq_len"}
 *
 * A seq2seq job's adapter (an encoder-decoder: BART) has task_type
 * "SEQ_2_SEQ_LM" and its factors under BART's module paths
 * ("base_model.model.model.decoder.layers.0.encoder_attn.k_proj.lora_A"),
 * target_modules naming the leaves once ("q_proj" stands for the self- and
 * the cross-attention's), no head and no labels.json.
 *
 * bitfit, adapter and full fine-tuning of a classifier have no PEFT type:
 * they are written in the same two files with peft_type "BITFIT",
 * "BOTTLENECK" or "FULL" (ours; PEFT cannot load them), every trained
 * tensor under "base_model.model.<Hugging Face name>" (the model's own
 * weights it replaces, "<layer module>.adapter.{down,up}.{weight,bias}"
 * for the bottlenecks, the head as above); BOTTLENECK adds "adapter_size"
 * and "non_linearity".
 */
#ifndef ADA_ADAPTER_EXPORT_PEFT_H
#define ADA_ADAPTER_EXPORT_PEFT_H

#include <stdbool.h>
#include <stdint.h>

#include "adalora.h"
#include "data/class_data.h"
#include "net/trained_net.h"

struct export_info {
	const char *base_model;       /* base_model_name_or_path */
	int64_t total_steps;          /* AdaLoRA's total_step (> tinit + tfinal) */
	/* kept[i][j], j < init_r: AdaLoRA triplet j of adapter i survives (the
	 * allocator's final mask, also after compaction); NULL = all */
	const bool *const *kept;
	const struct label_map *labels;   /* classification: the label map; else NULL */
	int seq_len;                  /* the job's, for labels.json */
	int qa_version_2;             /* QA: trained on SQuAD v2 data (unanswerable questions) */
};

int export_peft(const struct trained_net *tn, const struct export_info *info, const char *dir,
		struct ada_err *err);

#endif
