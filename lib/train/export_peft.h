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
 * back on import.
 */
#ifndef ADA_TRAIN_EXPORT_PEFT_H
#define ADA_TRAIN_EXPORT_PEFT_H

#include <stdbool.h>
#include <stdint.h>

#include "../adalora.h"
#include "net_build.h"

struct export_info {
	const char *base_model;       /* base_model_name_or_path */
	int64_t total_steps;          /* AdaLoRA's total_step (> tinit + tfinal) */
	/* kept[i][j], j < init_r: AdaLoRA triplet j of adapter i survives (the
	 * allocator's final mask, also after compaction); NULL = all */
	const bool *const *kept;
};

int export_peft(const struct trained_net *tn, const struct export_info *info, const char *dir,
		struct ada_err *err);

#endif
