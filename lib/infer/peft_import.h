/*
 * peft_import — read a PEFT adapter (ours, or one written by PEFT itself)
 * and attach it to a frozen model's network (`--adapter DIR`).
 *
 * Reads adapter_config.json (peft_type LORA or ADALORA) and
 * adapter_model.safetensors (F32, F16 or BF16). Every key must name a
 * Llama module of the model ("base_model.model.model.layers.N.<module>.
 * lora_{A,B,E}[.weight]") with shapes that fit it; anything else is an
 * error naming the key. Scales follow PEFT: AdaLoRA alpha / (init_r + 1e-5)
 * whatever was kept; LoRA alpha / r with rank_pattern / alpha_pattern per
 * module (alpha / sqrt(r) with use_rslora). Options that change the math
 * in ways we do not implement (DoRA, biases, fan_in_fan_out,
 * modules_to_save) are refused by name. q_proj / k_proj lora_B rows are
 * permuted from Hugging Face's rotate-half order to our RoPE pairs.
 */
#ifndef ADA_INFER_PEFT_IMPORT_H
#define ADA_INFER_PEFT_IMPORT_H

#include "../adalora.h"
#include "../model/model.h"
#include "../nn/llama.h"
#include "../nn/lowrank.h"

struct peft_module {
	int layer;
	enum llama_module module;
	struct lowrank *lr;     /* owned; P, Q, g point into mem */
};

struct peft_adapter {
	char peft_type[16];     /* "LORA" or "ADALORA" */
	struct peft_module *mods;
	int n_mods;
	float *mem;             /* owned: every A, B, E (or gate of ones) */
};

int peft_adapter_load(const char *dir, const struct model_config *cfg, struct peft_adapter *pa,
		      struct ada_err *err);
/* Put each module's adapter on its linear layer of net (borrowed). */
void peft_adapter_attach(struct peft_adapter *pa, struct llama_net *net);
void peft_adapter_release(struct peft_adapter *pa);

#endif
