/* trained_net — trainable network for a job; see trained_net.h. */
#include "net/trained_net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/model_bind.h"
#include "net/net_slots.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/rng.h"

#define NEW_WEIGHT_STD 0.02   /* heads and bottlenecks, as transformers' initializer_range */

static int is_budgeted(const struct ada_method *m)
{
	return m->type == ADA_METHOD_ADALORA || m->type == ADA_METHOD_LORA_PRUNE;
}

static int has_adapters(const struct ada_method *m)
{
	return m->type == ADA_METHOD_LORA || is_budgeted(m);
}

static int is_bert(const struct trained_net *tn)
{
	return tn->model->cfg.family == ADA_FAMILY_BERT;
}

static int is_bart(const struct trained_net *tn)
{
	return tn->model->cfg.family == ADA_FAMILY_BART;
}

static int is_classifier(const struct trained_net *tn)
{
	return tn->spec.task == ADA_TASK_CLASSIFICATION;
}

static int is_qa(const struct trained_net *tn)
{
	return tn->spec.task == ADA_TASK_QUESTION_ANSWERING;
}

static int adapter_rank(const struct ada_method *m)
{
	return is_budgeted(m) ? m->hp.init_r : m->hp.r;
}

static double adapter_scale(const struct ada_method *m)
{
	int r = adapter_rank(m);

	if (m->type == ADA_METHOD_ADALORA)   /* adalora.md s.1: fixed, init_r + 1e-5 */
		return m->hp.lora_alpha > 0 ? m->hp.lora_alpha / (r + 1e-5) : r / (r + 1e-5);
	return m->hp.lora_alpha / r;         /* PEFT LoRA: alpha / r */
}

static struct linear *module_linear(struct trained_net *tn, int layer, int module)
{
	if (is_bart(tn))
		return &tn->bart_blocks[layer].lin[module];
	return is_bert(tn) ? &tn->bert_blocks[layer].lin[module] : &tn->blocks[layer].lin[module];
}

/* The network as the model has it: frozen weights, no gradients, no
 * adapters; a classifier's head with its shape (and BERT's pooler). */
static void bind_frozen(struct trained_net *tn)
{
	if (is_bart(tn))
		bart_net_from_model(&tn->bart, tn->bart_blocks, tn->model);
	else if (is_bert(tn))
		bert_net_from_model(&tn->bert, tn->bert_blocks, tn->model);
	else
		llama_net_from_model(&tn->net, tn->blocks, tn->model);
	if (is_classifier(tn))
		seq_head_from_model(&tn->head, tn->model, tn->spec.n_labels);
	if (is_qa(tn))
		tn->qa = (struct linear){ .in = tn->model->cfg.dim, .out = 2 };
}

/* Register an arena tensor reached through (w, g); -1 when out of memory. */
static int reg_from(struct trained_net *tn, const char *name, int rows, int cols, int decay,
		    const real **w, real **g, enum tensor_init init, const float *from,
		    const struct frozen_mat *from_fw, int rope_heads)
{
	struct param_arena *pa = &tn->arena;
	int i = param_arena_add(pa, name, rows, cols, decay);
	struct tensor_binding *b;

	if (i < 0)
		return -1;
	b = xreallocarray(tn->binds, (size_t)pa->n_tensors, sizeof(*b));
	if (!b)
		return -1;
	tn->binds = b;
	b[i] = (struct tensor_binding){ .w = w, .g = g, .rope_heads = rope_heads, .init = init,
					.from = from, .from_fw = from_fw };
	return i;
}

static int reg(struct trained_net *tn, const char *name, int rows, int cols, int decay,
	       const real **w, real **g, enum tensor_init init, const float *from, int rope_heads)
{
	return reg_from(tn, name, rows, cols, decay, w, g, init, from, NULL, rope_heads);
}

/* The model's own weights a method trains, from net_slots.h. */
static int slot_trains(const struct ada_method *m, const struct net_slot *s)
{
	switch (m->type) {
	case ADA_METHOD_FULL:
		return 1;
	case ADA_METHOD_BITFIT:
		return s->kind == SLOT_BIAS || s->kind == SLOT_NORM_BIAS;
	case ADA_METHOD_ADAPTER:
		/* Houlsby: the layers' norms train with the bottlenecks */
		return s->layer >= 0 && (s->kind == SLOT_NORM || s->kind == SLOT_NORM_BIAS);
	default:
		return 0;
	}
}

static int register_slots(struct trained_net *tn, struct ada_err *err)
{
	const struct model_config *c = &tn->model->cfg;
	struct net_slots slots;
	char name[200];
	int rc;

	if (is_bart(tn))
		return ADA_OK;   /* adapters only (refuse() saw to the method) */
	if (is_bert(tn))   /* BERT's pretrained pooler is the model's (DeBERTa's is the head's) */
		rc = net_slots_bert(&slots, &tn->bert, tn->head.dense.w && !model_is_deberta(c) ?
						       &tn->head.dense : NULL, c);
	else
		rc = net_slots_llama(&slots, &tn->net, c, !is_classifier(tn));
	if (rc)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < slots.n && !rc; i++) {
		const struct net_slot *s = &slots.v[i];
		int decay = s->kind == SLOT_WEIGHT || s->kind == SLOT_EMBEDDING;

		const struct frozen_mat *fw = !*s->w && s->fw ? *s->fw : NULL;

		if (!slot_trains(&tn->method, s))
			continue;
		if (fw && frozen_mat_quantized(fw)) {
			rc = ada_fail_param(err, ADA_EUNSUPPORTED, "method.type",
					    "method.type: full fine-tuning trains every weight as f32, but %s stores %s as %s; train an adapter on it (lora, adalora, lora_prune, bitfit, adapter) or start from an F16/BF16/F32 copy of the model",
					    tn->model->path, s->name, frozen_mat_type_name(fw));
			break;
		}
		snprintf(name, sizeof(name), "base_model.model.%s", s->name);
		if (reg_from(tn, name, s->rows, s->cols, decay, s->w, s->g, INIT_COPY, *s->w, fw,
			     s->rope_heads) < 0)
			rc = ada_fail(err, ADA_ENOMEM, "out of memory registering trainable tensors");
	}
	net_slots_release(&slots);
	return rc;
}

static int register_bottlenecks(struct trained_net *tn, struct ada_err *err)
{
	const struct model_config *c = &tn->model->cfg;
	const int D = c->dim, S = tn->method.hp.adapter_size;
	char path[160], name[200];

	tn->bns = xcalloc((size_t)c->n_layers * 2, sizeof(*tn->bns));
	if (!tn->bns)
		goto out_nomem;
	for (int i = 0; i < c->n_layers * 2; i++) {
		struct bottleneck *bn = bottleneck_new(D, S, BOTTLENECK_SILU);

		if (!bn)
			goto out_nomem;
		tn->bns[tn->n_bns++] = bn;
		net_bottleneck_path(c, i / 2, i % 2, path, sizeof(path));
#define BN(part, rows, cols, decay, wp, gp, init) \
		(snprintf(name, sizeof(name), "base_model.model.%s.%s", path, part), \
		 reg(tn, name, rows, cols, decay, (const real **)&bn->wp, &bn->gp, init, NULL, 0) < 0)
		if (BN("down.weight", S, D, 1, w_down, dw_down, INIT_NORMAL) ||
		    BN("down.bias", S, 1, 0, b_down, db_down, INIT_ZERO) ||
		    BN("up.weight", D, S, 1, w_up, dw_up, INIT_ZERO) ||
		    BN("up.bias", D, 1, 0, b_up, db_up, INIT_ZERO))
			goto out_nomem;
#undef BN
	}
	return ADA_OK;
out_nomem:
	return ada_fail(err, ADA_ENOMEM, "out of memory registering bottleneck adapters");
}

static int register_adapters(struct trained_net *tn, struct ada_err *err)
{
	const struct model_config *c = &tn->model->cfg;
	const struct ada_method *m = &tn->method;
	const int ada = m->type == ADA_METHOD_ADALORA, n_mod = model_n_modules(c);
	const int per_layer = model_modules_targeted(c, m->hp.target_modules);
	char name[200], path[160];

	if (!per_layer || !model_n_matrices(c, m->hp.target_modules))
		return ada_fail_param(err, ADA_EINVAL, "target_modules",
				      "target_modules selects no module of this %s model", c->arch);
	tn->mods = xcalloc((size_t)per_layer * c->n_layers, sizeof(*tn->mods));
	if (!tn->mods)
		goto out_nomem;
	for (int l = 0; l < c->n_layers; l++)
		for (int mod = 0; mod < n_mod; mod++) {
			struct adapted_module *am;
			int out, in, r = adapter_rank(m);

			if (!(m->hp.target_modules & model_module_bit(c, mod)) ||
			    !model_layer_has_module(c, l, mod))
				continue;
			am = &tn->mods[tn->n_mods++];
			am->layer = l;
			am->module = mod;
			am->init_r = r;
			model_module_shape(c, mod, &out, &in);
			model_module_hf_path(c, l, mod, path, sizeof(path));
			/* PEFT state-dict keys: LoRA layers are nn.Linear (".weight"),
			 * AdaLoRA's are bare parameters. */
			snprintf(name, sizeof(name), "base_model.model.%s.lora_A%s", path, ada ? "" : ".weight");
			am->t_A = reg(tn, name, r, in, 1, NULL, NULL, INIT_ZERO, NULL, 0);
			snprintf(name, sizeof(name), "base_model.model.%s.lora_B%s", path, ada ? "" : ".weight");
			am->t_B = reg(tn, name, out, r, 1, NULL, NULL, INIT_ZERO, NULL, 0);
			am->t_E = -1;
			if (ada) {
				snprintf(name, sizeof(name), "base_model.model.%s.lora_E", path);
				am->t_E = reg(tn, name, r, 1, 1, NULL, NULL, INIT_ZERO, NULL, 0);
			}
			if (am->t_A < 0 || am->t_B < 0 || (ada && am->t_E < 0))
				goto out_nomem;
			am->lr = lowrank_new(in, out, r, (real)adapter_scale(m),
					     (real)m->hp.lora_dropout, l * n_mod + mod);
			if (!am->lr)
				goto out_nomem;
		}
	return ADA_OK;
out_nomem:
	return ada_fail(err, ADA_ENOMEM, "out of memory registering trainable tensors");
}

/* The head of ...ForSequenceClassification, as PEFT saves modules_to_save. */
static int register_head(struct trained_net *tn, struct ada_err *err)
{
	const int D = tn->model->cfg.dim, C = tn->spec.n_labels;
	struct linear *out = &tn->head.out, *dense = &tn->head.dense;
	int bad;

	if (!is_bert(tn)) {
		bad = reg(tn, "base_model.model.score.weight", C, D, 1, &out->w, &out->dw, INIT_NORMAL,
			  NULL, 0) < 0;
	} else if (model_is_deberta(&tn->model->cfg)) {
		/* DebertaV2ForSequenceClassification: the ContextPooler and the
		 * classifier, both new */
		bad = reg(tn, "base_model.model.pooler.dense.weight", D, D, 1, &dense->w, &dense->dw,
			  INIT_NORMAL, NULL, 0) < 0 ||
		      reg(tn, "base_model.model.pooler.dense.bias", D, 1, 0, &dense->b, &dense->db,
			  INIT_ZERO, NULL, 0) < 0 ||
		      reg(tn, "base_model.model.classifier.weight", C, D, 1, &out->w, &out->dw,
			  INIT_NORMAL, NULL, 0) < 0 ||
		      reg(tn, "base_model.model.classifier.bias", C, 1, 0, &out->b, &out->db,
			  INIT_ZERO, NULL, 0) < 0;
	} else if (strcmp(tn->model->cfg.arch, "roberta")) {
		bad = reg(tn, "base_model.model.classifier.weight", C, D, 1, &out->w, &out->dw,
			  INIT_NORMAL, NULL, 0) < 0 ||
		      reg(tn, "base_model.model.classifier.bias", C, 1, 0, &out->b, &out->db,
			  INIT_ZERO, NULL, 0) < 0;
	} else {
		bad = reg(tn, "base_model.model.classifier.dense.weight", D, D, 1, &dense->w,
			  &dense->dw, INIT_NORMAL, NULL, 0) < 0 ||
		      reg(tn, "base_model.model.classifier.dense.bias", D, 1, 0, &dense->b,
			  &dense->db, INIT_ZERO, NULL, 0) < 0 ||
		      reg(tn, "base_model.model.classifier.out_proj.weight", C, D, 1, &out->w,
			  &out->dw, INIT_NORMAL, NULL, 0) < 0 ||
		      reg(tn, "base_model.model.classifier.out_proj.bias", C, 1, 0, &out->b,
			  &out->db, INIT_ZERO, NULL, 0) < 0;
	}
	return bad ? ada_fail(err, ADA_ENOMEM, "out of memory registering the head") : ADA_OK;
}

/* ...ForQuestionAnswering's qa_outputs, as PEFT saves modules_to_save. */
static int register_qa_head(struct trained_net *tn, struct ada_err *err)
{
	const int D = tn->model->cfg.dim;
	struct linear *qa = &tn->qa;

	if (reg(tn, "base_model.model.qa_outputs.weight", 2, D, 1, &qa->w, &qa->dw, INIT_NORMAL,
		NULL, 0) < 0 ||
	    reg(tn, "base_model.model.qa_outputs.bias", 2, 1, 0, &qa->b, &qa->db, INIT_ZERO, NULL,
		0) < 0)
		return ada_fail(err, ADA_ENOMEM, "out of memory registering the head");
	return ADA_OK;
}

/* What the model cannot do with this method and task. */
static int refuse(const struct trained_net *tn, struct ada_err *err)
{
	const struct model *md = tn->model;
	const struct model_config *c = &md->cfg;

	if (tn->spec.task != ADA_TASK_CAUSAL_LM && tn->spec.task != ADA_TASK_CLASSIFICATION &&
	    tn->spec.task != ADA_TASK_QUESTION_ANSWERING && tn->spec.task != ADA_TASK_SEQ2SEQ)
		return ada_fail(err, ADA_EINVAL, "a network is built for a resolved task, not %d",
				(int)tn->spec.task);
	if (is_qa(tn) && !is_bert(tn))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "task",
				      "task: question answering needs an encoder (BERT, RoBERTa, DeBERTa); %s is a %s",
				      md->path, is_bart(tn) ? "BART encoder-decoder" : c->arch);
	if (is_bart(tn) != (tn->spec.task == ADA_TASK_SEQ2SEQ))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "task",
				      is_bart(tn) ? "task: %s is an encoder-decoder (BART); it trains sequence to sequence (seq2seq), not %s"
						  : "task: %s is not an encoder-decoder; %s needs a BART model",
				      md->path, ada_task_name(tn->spec.task));
	if (is_bart(tn) && !has_adapters(&tn->method))
		return ada_fail_param(err, ADA_EUNSUPPORTED, "method.type",
				      "method.type: %s on a BART model is not implemented (lora, adalora, lora_prune are)",
				      ada_method_name(tn->method.type));
	if (is_bert(tn) && tn->spec.task == ADA_TASK_CAUSAL_LM)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: a BERT-family model is an encoder; it trains classifiers, not a causal LM",
				md->path);
	if (is_classifier(tn) && tn->spec.n_labels < 1)
		return ada_fail(err, ADA_EINVAL, "a classifier needs at least one output");
	if (is_bert(tn) && is_classifier(tn) && strcmp(c->arch, "roberta") && !model_is_deberta(c) &&
	    !c->has_pooler)
		return ada_fail(err, ADA_EUNSUPPORTED,
				"%s: no pooler weights (bert.pooler.dense); BertForSequenceClassification would start its pooler at random, which no adapter records",
				md->path);
	if (tn->method.type == ADA_METHOD_BITFIT && !is_classifier(tn) && !is_bert(tn) &&
	    !c->qkv_bias)
		return ada_fail_param(err, ADA_EINVAL, "method.type",
				      "method.type: bitfit trains biases (and a classifier's head), but %s has no biases: a causal LM would train nothing",
				      md->path);
	return ADA_OK;
}

/* Everything but the arena's memory: the frozen binding, the tensors and
 * the adapter objects. */
static int setup(struct trained_net *tn, const struct model *model, const struct ada_method *method,
		 const struct net_spec *spec, struct ada_err *err)
{
	const int L = model->cfg.n_layers;
	int rc;

	memset(tn, 0, sizeof(*tn));
	tn->model = model;
	tn->method = *method;
	tn->spec = *spec;
	param_arena_init(&tn->arena);
	if ((rc = refuse(tn, err)))
		return rc;
	if (is_bart(tn))
		tn->bart_blocks = xcalloc((size_t)L, sizeof(*tn->bart_blocks));
	else if (is_bert(tn))
		tn->bert_blocks = xcalloc((size_t)L, sizeof(*tn->bert_blocks));
	else
		tn->blocks = xcalloc((size_t)L, sizeof(*tn->blocks));
	if (!tn->bert_blocks && !tn->blocks && !tn->bart_blocks)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	bind_frozen(tn);
	if (method->type == ADA_METHOD_ADAPTER && (rc = register_bottlenecks(tn, err)))
		return rc;
	if ((rc = register_slots(tn, err)))
		return rc;
	if (has_adapters(method) && (rc = register_adapters(tn, err)))
		return rc;
	if (is_classifier(tn) && (rc = register_head(tn, err)))
		return rc;
	if (is_qa(tn) && (rc = register_qa_head(tn, err)))
		return rc;
	return ADA_OK;
}

static void init_adapters(struct trained_net *tn, uint64_t seed)
{
	struct param_arena *pa = &tn->arena;
	struct rng rng;

	rng_seed(&rng, rng_hash(seed, 0x696e6974ULL));
	for (int i = 0; i < tn->n_mods; i++) {
		struct adapted_module *am = &tn->mods[i];
		float *A = param_w(pa, am->t_A), *B = param_w(pa, am->t_B);
		size_t nA = pa->t[am->t_A].n, nB = pa->t[am->t_B].n;

		if (tn->method.type == ADA_METHOD_ADALORA) {
			/* P, Q ~ N(0, 0.02^2); lambda = 0 so W = W0 at step 0. */
			for (size_t k = 0; k < nA; k++)
				A[k] = (float)(0.02 * rng_normal(&rng));
			for (size_t k = 0; k < nB; k++)
				B[k] = (float)(0.02 * rng_normal(&rng));
		} else {
			/* kaiming_uniform_(a = sqrt(5)) on [r][in]: bound 1/sqrt(in). */
			double bound = 1.0 / sqrt((double)pa->t[am->t_A].cols);
			for (size_t k = 0; k < nA; k++)
				A[k] = (float)((2 * rng_uniform(&rng) - 1) * bound);
			memset(B, 0, sizeof(float) * nB);
		}
	}
}

/* Copied weights, and the new ones of heads and bottlenecks, in tensor order. */
static void init_bound(struct trained_net *tn, uint64_t seed)
{
	struct param_arena *pa = &tn->arena;
	struct rng rng;

	rng_seed(&rng, rng_hash(seed, 0x6e6577ULL));
	for (int i = 0; i < pa->n_tensors; i++) {
		const struct tensor_binding *b = &tn->binds[i];
		float *w = param_w(pa, i);

		if (!b->w)
			continue;
		if (b->init == INIT_COPY && b->from)
			memcpy(w, b->from, sizeof(float) * pa->t[i].n);
		else if (b->init == INIT_COPY)
			frozen_mat_read(b->from_fw, w);
		else if (b->init == INIT_NORMAL)
			for (size_t k = 0; k < pa->t[i].n; k++)
				w[k] = (float)(NEW_WEIGHT_STD * rng_normal(&rng));
		else
			memset(w, 0, sizeof(float) * pa->t[i].n);
	}
}

void trained_net_bind(struct trained_net *tn)
{
	const struct model_config *c = &tn->model->cfg;
	struct param_arena *pa = &tn->arena;

	/* Start from the frozen model, then point what trains at the arena. */
	bind_frozen(tn);
	for (int i = 0; i < pa->n_tensors; i++) {
		const struct tensor_binding *b = &tn->binds[i];
		if (!b->w)
			continue;
		*b->w = param_w(pa, i);
		*b->g = param_g(pa, i);
	}
	if (!is_bert(tn) && !is_bart(tn) && !is_classifier(tn) && c->tied_output &&
	    tn->net.d_tok_emb) {
		tn->net.output = tn->net.tok_emb;
		tn->net.d_output = tn->net.d_tok_emb;
	}
	for (int i = 0; i < tn->n_mods; i++) {
		struct adapted_module *am = &tn->mods[i];
		struct lowrank *lr = am->lr;

		lr->Q = param_w(pa, am->t_A);
		lr->dQ = param_g(pa, am->t_A);
		lr->P = param_w(pa, am->t_B);
		lr->dP = param_g(pa, am->t_B);
		if (am->t_E >= 0) {
			lr->g = param_w(pa, am->t_E);
			lr->dg = param_g(pa, am->t_E);
		} else {
			lr->g = am->fixed_gate;
			lr->dg = NULL;
		}
		module_linear(tn, am->layer, am->module)->adapter = &lr->base;
	}
	for (int l = 0; l < tn->n_bns / 2; l++) {
		if (is_bart(tn)) {
			continue;   /* refused: no bottlenecks on BART */
		} else if (is_bert(tn)) {
			tn->bert_blocks[l].bn_attn = tn->bns[2 * l];
			tn->bert_blocks[l].bn_out = tn->bns[2 * l + 1];
		} else {
			tn->blocks[l].bn_attn = tn->bns[2 * l];
			tn->blocks[l].bn_ffn = tn->bns[2 * l + 1];
		}
	}
	if (is_qa(tn))
		tn->span = (struct span_net){
			.enc = { .family = c->family, .bert = &tn->bert },
			.qa = &tn->qa,
		};
	if (is_classifier(tn))
		tn->cls = (struct classifier){
			.family = c->family,
			.llama = is_bert(tn) ? NULL : &tn->net,
			.bert = is_bert(tn) ? &tn->bert : NULL,
			.head = &tn->head,
			.n_labels = tn->spec.n_labels,
			.regression = tn->spec.regression,
		};
	/* compute_dtype bf16: the blocks' frozen matrices multiply through
	 * nn/frozen.h in bf16 (F32 ones too, which otherwise multiply in place);
	 * what trains stays in f32. */
	for (int l = 0; tn->bf16 && !is_bert(tn) && l < c->n_layers; l++)
		for (int mod = 0; mod < N_LLAMA_MODULES; mod++) {
			struct linear *lin = &tn->blocks[l].lin[mod];
			if (lin->fw && !lin->dw) {
				lin->w = NULL;
				lin->bf = tn->bf16;
			}
		}
	/* and the LM head, when nothing trains it */
	if (tn->bf16 && !is_bert(tn) && !is_classifier(tn) && tn->net.output_fw &&
	    !tn->net.d_output) {
		tn->net.output = NULL;
		tn->net.output_bf = tn->bf16;
	}
}

void trained_net_set_bf16(struct trained_net *tn, struct frozen_bf16 *bf)
{
	tn->bf16 = bf;
	trained_net_bind(tn);
}

int trained_net_build(struct trained_net *tn, const struct model *model,
		      const struct ada_method *method, const struct net_spec *spec, uint64_t seed,
		      int init_weights, struct ada_err *err)
{
	int rc;

	if ((rc = setup(tn, model, method, spec, err)))
		goto out_release;
	if ((rc = param_arena_alloc(&tn->arena, err)))
		goto out_release;
	if (method->type == ADA_METHOD_LORA || method->type == ADA_METHOD_LORA_PRUNE) {
		size_t total = 0;
		for (int i = 0; i < tn->n_mods; i++)
			total += (size_t)tn->mods[i].init_r;
		tn->gates = xcalloc(total ? total : 1, sizeof(float));
		if (!tn->gates) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_release;
		}
		for (size_t k = 0; k < total; k++)
			tn->gates[k] = 1;
		total = 0;
		for (int i = 0; i < tn->n_mods; i++) {
			tn->mods[i].fixed_gate = tn->gates + total;
			total += (size_t)tn->mods[i].init_r;
		}
	}
	if (init_weights) {
		init_bound(tn, seed);
		init_adapters(tn, seed);
	}
	trained_net_bind(tn);
	return ADA_OK;

out_release:
	trained_net_release(tn);
	return rc;
}

void trained_net_release(struct trained_net *tn)
{
	for (int i = 0; i < tn->n_mods; i++)
		if (tn->mods[i].lr)
			adapter_free(&tn->mods[i].lr->base);
	for (int i = 0; i < tn->n_bns; i++)
		bottleneck_free(tn->bns[i]);
	free(tn->bns);
	free(tn->mods);
	free(tn->blocks);
	free(tn->bert_blocks);
	free(tn->bart_blocks);
	free(tn->gates);
	free(tn->binds);
	param_arena_release(&tn->arena);
	memset(tn, 0, sizeof(*tn));
}

int trained_net_find(const struct trained_net *tn, int layer, int module)
{
	for (int i = 0; i < tn->n_mods; i++)
		if (tn->mods[i].layer == layer && tn->mods[i].module == module)
			return i;
	return -1;
}

int trained_net_count(const struct model *model, const struct ada_method *method,
		      const struct net_spec *spec, int64_t *n, struct ada_err *err)
{
	struct trained_net tn;
	int rc = setup(&tn, model, method, spec, err);

	*n = rc ? -1 : (int64_t)param_arena_count(&tn.arena);
	trained_net_release(&tn);
	return rc;
}

/* Copy the kept rows of a [r][cols] block. */
static void copy_rows(float *dst, const float *src, int r, int cols, const uint8_t *keep)
{
	for (int i = 0, k = 0; i < r; i++)
		if (keep[i])
			memcpy(dst + (size_t)k++ * cols, src + (size_t)i * cols, sizeof(float) * (size_t)cols);
}

/* Copy the kept columns of a [rows][r] block into [rows][k]. */
static void copy_cols(float *dst, const float *src, int rows, int r, int k, const uint8_t *keep)
{
	for (int row = 0; row < rows; row++)
		for (int i = 0, c = 0; i < r; i++)
			if (keep[i])
				dst[(size_t)row * k + c++] = src[(size_t)row * r + i];
}

/* The same tensors in the same order, adapters at ranks new_r; with keep,
 * adapters keep their kept triplets and everything else its values. */
static int rebuild_arena(struct trained_net *tn, const int *new_r, const uint8_t *const *keep,
			 struct ada_err *err)
{
	struct param_arena old = tn->arena, pa;
	int *owner = xcalloc((size_t)old.n_tensors + 1, sizeof(*owner));   /* mod + 1, or 0 */
	int rc = ADA_OK;

	if (!owner)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < tn->n_mods; i++) {
		const struct adapted_module *am = &tn->mods[i];
		owner[am->t_A] = owner[am->t_B] = i + 1;
		if (am->t_E >= 0)
			owner[am->t_E] = i + 1;
	}
	param_arena_init(&pa);
	for (int t = 0; t < old.n_tensors && !rc; t++) {
		const struct param_tensor *ot = &old.t[t];
		int rows = ot->rows, cols = ot->cols, i = owner[t] - 1;

		if (i >= 0 && t == tn->mods[i].t_B)
			cols = new_r[i];
		else if (i >= 0)
			rows = new_r[i];
		if (param_arena_add(&pa, ot->name, rows, cols, ot->decay) < 0)
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if (!rc)
		rc = param_arena_alloc(&pa, err);
	if (rc) {
		param_arena_release(&pa);
		free(owner);
		return rc;
	}
	for (int t = 0; keep && t < old.n_tensors; t++) {
		float *src[3] = { old.w, old.m, old.v }, *dst[3] = { pa.w, pa.m, pa.v };
		const int i = owner[t] - 1;

		for (int a = 0; a < 3; a++) {
			const float *s = src[a] + old.t[t].offset;
			float *d = dst[a] + pa.t[t].offset;

			if (i < 0)
				memcpy(d, s, sizeof(float) * old.t[t].n);
			else if (t == tn->mods[i].t_B)
				copy_cols(d, s, old.t[t].rows, old.t[t].cols, new_r[i], keep[i]);
			else
				copy_rows(d, s, old.t[t].rows, old.t[t].cols, keep[i]);
		}
	}
	for (int i = 0; i < tn->n_mods; i++)
		tn->mods[i].lr->r = new_r[i];
	tn->arena = pa;
	param_arena_release(&old);
	free(owner);
	trained_net_bind(tn);
	return ADA_OK;
}

int trained_net_compact(struct trained_net *tn, const uint8_t *const *keep, struct ada_err *err)
{
	int *r = calloc((size_t)tn->n_mods + 1, sizeof(*r));
	int rc;

	if (!r)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	for (int i = 0; i < tn->n_mods; i++)
		for (int j = 0; j < tn->mods[i].lr->r; j++)
			r[i] += keep[i][j] != 0;
	rc = rebuild_arena(tn, r, keep, err);
	free(r);
	return rc;
}

int trained_net_reshape(struct trained_net *tn, const int *ranks, struct ada_err *err)
{
	for (int i = 0; i < tn->n_mods; i++)
		if (ranks[i] < 0 || ranks[i] > tn->mods[i].init_r)
			return ada_fail(err, ADA_EFORMAT, "adapter %d: rank %d out of range", i,
					ranks[i]);
	return rebuild_arena(tn, ranks, NULL, err);
}
