/*
 * net_build — a trainable network for one job: the frozen model's weights,
 * the method's trainable tensors in a parameter arena, and the adapters
 * that tie them to the linear layers.
 *
 *   lora / lora_prune  a low-rank adapter (lora_A, lora_B) per targeted
 *                      module; B = 0, A ~ kaiming-uniform(a = sqrt 5) as
 *                      PEFT; the gate g is a fixed vector of ones (LoRA) or
 *                      the allocator's 0/1 mask (lora_prune).
 *   adalora            SVD triplets (lora_A = Q, lora_E = lambda, lora_B =
 *                      P); lambda = 0, P, Q ~ N(0, 0.02^2) (adalora.md s.1)
 *   full               every weight copied into the arena and trained
 *
 * Tensors are named as PEFT / Hugging Face name them, so the exporter and
 * the checkpoint read names, not positions. Initial values are drawn from
 * one RNG seeded by the job's seed, in layer/module order: the same seed
 * gives the same start on any machine.
 */
#ifndef ADA_TRAIN_NET_BUILD_H
#define ADA_TRAIN_NET_BUILD_H

#include <stdint.h>

#include "../adalora.h"
#include "../model/model.h"
#include "../nn/llama.h"
#include "../nn/lowrank.h"
#include "params.h"

/* Where the tensors of one adapted module sit in the arena. */
struct adapted_module {
	int layer;
	enum llama_module module;
	struct lowrank *lr;      /* owned */
	int t_A, t_B, t_E;       /* arena tensor indices (t_E = -1 unless adalora) */
	int init_r;
	float *fixed_gate;       /* lora / lora_prune: [init_r] ones or mask, in gates */
};

struct trained_net {
	const struct model *model;    /* borrowed */
	struct ada_method method;
	struct llama_net net;
	struct llama_block *blocks;   /* owned [n_layers] */
	struct param_arena arena;
	struct adapted_module *mods;  /* owned [n_mods], layer-major, module order */
	int n_mods;
	float *gates;                 /* owned: fixed gates of lora / lora_prune */
};

/* Build the network for method over model; init from seed. With
 * init_weights = 0 the arena is left zeroed (a checkpoint will fill it). */
int trained_net_build(struct trained_net *tn, const struct model *model,
		      const struct ada_method *method, uint64_t seed, int init_weights,
		      struct ada_err *err);
void trained_net_release(struct trained_net *tn);

/* AdaLoRA after the freeze: rebuild the arena keeping, for adapter i, only
 * the triplets with keep[i][j] != 0 (weights and both moments; gradients
 * zeroed), and shrink the adapters to match. */
int trained_net_compact(struct trained_net *tn, const uint8_t *const *keep,
			struct ada_err *err);
/* Reshape the arena to adapter ranks ranks[i] without keeping values (a
 * checkpoint taken after compaction is about to fill it). */
int trained_net_reshape(struct trained_net *tn, const int *ranks, struct ada_err *err);

/* Trainable parameters of method on a model of cfg (without building it). */
int64_t trained_net_param_count(const struct model_config *cfg, const struct ada_method *method);

/* Index into tn->mods of (layer, module), or -1 when not adapted. */
int trained_net_find(const struct trained_net *tn, int layer, enum llama_module m);

/* Point every adapter at the arena again (after the arena was replaced). */
void trained_net_bind(struct trained_net *tn);

#endif
