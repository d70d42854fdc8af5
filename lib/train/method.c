/*
 * method — the API's "method" object: defaults, validation, normalisation.
 *
 * The same object configures `adalora train` (CLI) and a daemon job, so it
 * is parsed here, once, from a table of fields: name, kind, range, and
 * which methods accept it. The table makes every check uniform (unknown
 * fields, types, ranges all name the field with its full dotted path) and
 * makes the normalised output (defaults filled in) fall out for free.
 * Defaults follow PEFT (LoraConfig / AdaLoraConfig) except where the README
 * says otherwise (deltaT 10, all seven modules targeted, as the paper does).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "adalora.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"
#include "nn/bf16.h"
#include "util/err.h"
#include "util/utf8.h"

enum field_kind { F_INT, F_INT64, F_DOUBLE, F_BOOL, F_EPOCHS, F_BATCH, F_STEPS,
		  F_MODULES, F_IMPORTANCE, F_SCHEDULER, F_CHAT_TEMPLATE, F_AUTO_BOOL, F_AUTO_INT,
		  F_COMPUTE, F_ALL_INT64 };

/* Which methods take a field. */
#define M_LORA (1u << ADA_METHOD_LORA)
#define M_ADA (1u << ADA_METHOD_ADALORA)
#define M_FULL (1u << ADA_METHOD_FULL)
#define M_PRUNE (1u << ADA_METHOD_LORA_PRUNE)
#define M_BITFIT (1u << ADA_METHOD_BITFIT)
#define M_ADAPTER (1u << ADA_METHOD_ADAPTER)
#define M_ALL (M_LORA | M_ADA | M_FULL | M_PRUNE | M_BITFIT | M_ADAPTER)
#define M_ADAPTERS (M_LORA | M_ADA | M_PRUNE)
#define M_BUDGET (M_ADA | M_PRUNE)

struct field {
	const char *name;
	enum field_kind kind;
	size_t offset;             /* into struct ada_hparams */
	double min, max;           /* inclusive range for numbers */
	unsigned methods;
};

#define OFF(f) offsetof(struct ada_hparams, f)

static const struct field fields[] = {
	{ "n_epochs", F_EPOCHS, OFF(n_epochs), 1, 1000, M_ALL },
	{ "max_steps", F_STEPS, OFF(max_steps), 1, 1e9, M_ALL },
	{ "batch_size", F_BATCH, OFF(batch_size), 1, 4096, M_ALL },
	{ "micro_batch_size", F_INT, OFF(micro_batch_size), 1, 4096, M_ALL },
	{ "learning_rate", F_DOUBLE, OFF(learning_rate), 1e-12, 10, M_ALL },
	{ "warmup_steps", F_INT64, OFF(warmup_steps), 0, 1e9, M_ALL },
	{ "weight_decay", F_DOUBLE, OFF(weight_decay), 0, 10, M_ALL },
	{ "max_grad_norm", F_DOUBLE, OFF(max_grad_norm), 0, 1e9, M_ALL },
	{ "seq_len", F_INT, OFF(seq_len), 2, 65536, M_ALL },
	{ "lr_scheduler", F_SCHEDULER, OFF(lr_scheduler), 0, 0, M_ALL },
	{ "valid_fraction", F_DOUBLE, OFF(valid_fraction), 0, 0.5, M_ALL },
	{ "eval_every", F_INT64, OFF(eval_every), 0, 1e9, M_ALL },
	{ "log_every", F_INT64, OFF(log_every), 1, 1e9, M_ALL },
	{ "checkpoint_every", F_INT64, OFF(checkpoint_every), 0, 1e9, M_ALL },
	{ "gradient_checkpointing", F_BOOL, OFF(gradient_checkpointing), 0, 1, M_ALL },
	{ "r", F_INT, OFF(r), 1, 1024, M_LORA },
	{ "lora_alpha", F_DOUBLE, OFF(lora_alpha), 1e-6, 1e6, M_ADAPTERS },
	{ "lora_dropout", F_DOUBLE, OFF(lora_dropout), 0, 0.95, M_ADAPTERS },
	{ "target_modules", F_MODULES, OFF(target_modules), 0, 0, M_ADAPTERS },
	{ "init_r", F_INT, OFF(init_r), 1, 1024, M_BUDGET },
	{ "target_r", F_INT, OFF(target_r), 0, 1024, M_BUDGET },
	{ "tinit", F_INT64, OFF(tinit), 0, 1e9, M_BUDGET },
	{ "tfinal", F_INT64, OFF(tfinal), 0, 1e9, M_BUDGET },
	{ "deltaT", F_INT64, OFF(delta_t), 1, 1e9, M_BUDGET },
	{ "beta1", F_DOUBLE, OFF(beta1), 0, 0.999999, M_BUDGET },
	{ "beta2", F_DOUBLE, OFF(beta2), 0, 0.999999, M_BUDGET },
	{ "orth_reg_weight", F_DOUBLE, OFF(orth_reg_weight), 0, 1e6, M_ADA },
	{ "importance", F_IMPORTANCE, OFF(importance), 0, 0, M_BUDGET },
	{ "compact_on_freeze", F_BOOL, OFF(compact_on_freeze), 0, 1, M_ADA },
	{ "adapter_size", F_INT, OFF(adapter_size), 1, 65536, M_ADAPTER },
	{ "chat_template", F_CHAT_TEMPLATE, OFF(chat_template), 0, 0, M_ALL },
	{ "append_eos", F_AUTO_BOOL, OFF(append_eos), 0, 1, M_ALL },
	{ "doc_stride", F_INT, OFF(doc_stride), 0, 65536, M_ALL },
	{ "max_query_length", F_INT, OFF(max_query_length), 1, 65536, M_ALL },
	{ "max_answer_length", F_INT, OFF(max_answer_length), 1, 65536, M_ALL },
	{ "n_best_size", F_INT, OFF(n_best_size), 1, 1000, M_ALL },
	{ "null_score_diff_threshold", F_DOUBLE, OFF(null_score_diff_threshold), -1e6, 1e6, M_ALL },
	{ "max_source_length", F_AUTO_INT, OFF(max_source_length), 2, 65536, M_ALL },
	{ "max_target_length", F_AUTO_INT, OFF(max_target_length), 2, 65536, M_ALL },
	{ "label_smoothing", F_DOUBLE, OFF(label_smoothing), 0, 0.999, M_ALL },
	{ "compute_dtype", F_COMPUTE, OFF(compute_dtype), 0, 0, M_ALL },
	{ "valid_generate_examples", F_ALL_INT64, OFF(valid_generate_examples), 0, 1e9, M_ALL },
	{ "generation_num_beams", F_AUTO_INT, OFF(generation_num_beams), 1, 256, M_ALL },
	{ "generation_max_length", F_AUTO_INT, OFF(generation_max_length), 2, 65537, M_ALL },
};

static const char *const importance_names[] = {
	[ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY] = "sensitivity_uncertainty",
	[ADA_IMPORTANCE_SENSITIVITY] = "sensitivity",
	[ADA_IMPORTANCE_MAGNITUDE] = "magnitude",
};

static const char *const scheduler_names[] = {
	[ADA_LR_LINEAR] = "linear", [ADA_LR_COSINE] = "cosine", [ADA_LR_CONSTANT] = "constant",
};

static const char *const compute_names[] = {
	[ADA_COMPUTE_FP32] = "fp32", [ADA_COMPUTE_BF16] = "bf16", [ADA_COMPUTE_AUTO] = "auto",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *ada_importance_name(enum ada_importance imp)
{
	return (unsigned)imp < N_ELEMS(importance_names) ? importance_names[imp] : "unknown";
}

const char *ada_lr_schedule_name(enum ada_lr_schedule s)
{
	return (unsigned)s < N_ELEMS(scheduler_names) ? scheduler_names[s] : "unknown";
}

const char *ada_compute_dtype_name(enum ada_compute_dtype d)
{
	return (unsigned)d < N_ELEMS(compute_names) ? compute_names[d] : "unknown";
}

int ada_bf16_supported(void)
{
	return bf16_supported();
}

enum ada_compute_dtype ada_compute_dtype_resolve(enum ada_compute_dtype d, enum ada_family family)
{
	if (d == ADA_COMPUTE_AUTO)
		return family == ADA_FAMILY_LLAMA && bf16_supported() ? ADA_COMPUTE_BF16
								      : ADA_COMPUTE_FP32;
	return d;
}

const char *ada_method_name(enum ada_method_type t)
{
	switch (t) {
	case ADA_METHOD_LORA: return "lora";
	case ADA_METHOD_ADALORA: return "adalora";
	case ADA_METHOD_FULL: return "full";
	case ADA_METHOD_LORA_PRUNE: return "lora_prune";
	case ADA_METHOD_BITFIT: return "bitfit";
	case ADA_METHOD_ADAPTER: return "adapter";
	}
	return "unknown";
}

static int method_from_name(const char *s)
{
	for (int t = ADA_METHOD_LORA; t <= ADA_METHOD_ADAPTER; t++)
		if (!strcmp(s, ada_method_name(t)))
			return t;
	return -1;
}

const char *ada_chat_templates(void)
{
	return chat_family_list();
}

void ada_method_defaults(enum ada_method_type t, struct ada_method *out)
{
	struct ada_hparams *hp = &out->hp;

	memset(out, 0, sizeof(*out));
	out->type = t;
	hp->n_epochs = 0;                 /* auto */
	hp->max_steps = 0;
	hp->batch_size = 8;
	hp->micro_batch_size = 8;         /* = batch_size: no accumulation */
	hp->learning_rate = t == ADA_METHOD_FULL ? 1e-4 : 1e-3;
	hp->warmup_steps = 0;
	hp->weight_decay = 0;
	hp->max_grad_norm = 1.0;
	hp->seq_len = 256;
	hp->lr_scheduler = ADA_LR_LINEAR;
	hp->valid_fraction = -1;          /* the data module's default rule */
	hp->eval_every = 0;
	hp->log_every = 10;
	hp->checkpoint_every = 100;
	hp->r = 8;
	hp->lora_alpha = 8;               /* PEFT's default */
	hp->lora_dropout = 0;
	hp->target_modules = t == ADA_METHOD_LORA || t == ADA_METHOD_ADALORA ||
			     t == ADA_METHOD_LORA_PRUNE ? ADA_MODULES_ALL : 0;
	hp->init_r = 12;
	hp->target_r = 8;
	hp->tinit = 0;
	hp->tfinal = 0;
	hp->delta_t = 10;                 /* PEFT: 1, which re-masks every step */
	hp->beta1 = 0.85;
	hp->beta2 = 0.85;
	hp->orth_reg_weight = t == ADA_METHOD_ADALORA ? 0.5 : 0;
	hp->importance = ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY;
	hp->compact_on_freeze = t == ADA_METHOD_ADALORA;
	hp->adapter_size = 64;
	hp->chat_template[0] = '\0';     /* auto: the model's own */
	hp->append_eos = -1;              /* auto: the model's default */
	hp->doc_stride = 128;             /* run_qa's defaults */
	hp->max_query_length = 64;
	hp->max_answer_length = 30;
	hp->n_best_size = 20;
	hp->null_score_diff_threshold = 0;
	hp->max_source_length = 0;        /* auto: min(1024, context) */
	hp->max_target_length = 0;        /* auto: min(128, context) */
	hp->label_smoothing = 0;
	hp->compute_dtype = ADA_COMPUTE_AUTO;   /* bf16 where the CPU has it (decoders) */
	hp->valid_generate_examples = 64;   /* decoded at each validation: README "BART" */
	hp->generation_num_beams = 0;       /* auto: the model's generation config */
	hp->generation_max_length = 0;      /* auto: max_target_length */
}

static int bad(struct ada_err *err, const char *path, const char *fmt, const char *detail)
{
	return ada_fail_param(err, ADA_EINVAL, path, fmt, path, detail ? detail : "");
}

static int in_range(const struct field *f, double v, const char *path, struct ada_err *err)
{
	char range[96];

	if (isfinite(v) && v >= f->min && v <= f->max)
		return ADA_OK;
	snprintf(range, sizeof(range), "between %g and %g", f->min, f->max);
	return bad(err, path, "%s must be %s", range);
}

static int parse_int(const struct field *f, const json_t *v, double *out, const char *path,
		     struct ada_err *err)
{
	if (!json_is_integer(v))
		return bad(err, path, "%s must be an integer%s", "");
	*out = (double)json_integer_value(v);
	return in_range(f, *out, path, err);
}

int ada_modules_from_json(const json_t *v, const char *path, unsigned *out, struct ada_err *err)
{
	size_t i;
	json_t *it;
	unsigned mask = 0;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return bad(err, path, "%s must be a non-empty array of module names%s", "");
	json_array_foreach(v, i, it) {
		int m;
		char elem[160];
		snprintf(elem, sizeof(elem), "%s[%zu]", path, i);
		if (!json_is_string(it))
			return bad(err, elem, "%s must be a string%s", "");
		m = llama_module_from_name(json_string_value(it));
		if (m < 0 && (m = bert_module_from_name(json_string_value(it))) >= 0) {
			/* a BERT name stands for the bit of its place in the layer */
			struct model_config bert = { .family = ADA_FAMILY_BERT };
			m = __builtin_ctz(model_module_bit(&bert, m));
		}
		if (m < 0)
			return ada_fail_param(err, ADA_EINVAL, elem,
					      "%s: unknown module '%s' (known: q, k, v, o, gate, up, down; BERT: query, key, value, attention.output.dense, intermediate.dense, output.dense)",
					      elem, json_string_value(it));
		if (mask & (1u << m))
			return ada_fail_param(err, ADA_EINVAL, elem, "%s: module '%s' listed twice",
					      elem, json_string_value(it));
		mask |= 1u << m;
	}
	*out = mask;
	return ADA_OK;
}

static int parse_enum(const json_t *v, const char *const *names, int n, int *out,
		      const char *path, struct ada_err *err)
{
	char list[256] = "";

	if (json_is_string(v))
		for (int i = 0; i < n; i++)
			if (!strcmp(json_string_value(v), names[i])) {
				*out = i;
				return ADA_OK;
			}
	for (int i = 0; i < n; i++) {
		strncat(list, names[i], sizeof(list) - strlen(list) - 1);
		if (i + 1 < n)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
	}
	return bad(err, path, "%s must be one of: %s", list);
}

static int parse_field(const struct field *f, const json_t *v, struct ada_hparams *hp,
		       const char *path, struct ada_err *err)
{
	char *base = (char *)hp + f->offset;
	double d;
	int rc, e;

	switch (f->kind) {
	case F_INT:
		if ((rc = parse_int(f, v, &d, path, err)))
			return rc;
		*(int *)base = (int)d;
		return ADA_OK;
	case F_INT64:
		if ((rc = parse_int(f, v, &d, path, err)))
			return rc;
		*(int64_t *)base = (int64_t)json_integer_value(v);
		return ADA_OK;
	case F_STEPS:
		if (json_is_null(v)) {
			*(int64_t *)base = 0;
			return ADA_OK;
		}
		if ((rc = parse_int(f, v, &d, path, err)))
			return rc;
		*(int64_t *)base = (int64_t)json_integer_value(v);
		return ADA_OK;
	case F_EPOCHS:
	case F_BATCH:
		if (json_is_string(v) && !strcmp(json_string_value(v), "auto")) {
			*(int *)base = f->kind == F_EPOCHS ? 0 : 8;
			return ADA_OK;
		}
		if (!json_is_integer(v))
			return bad(err, path, "%s must be an integer or \"auto\"%s", "");
		if ((rc = in_range(f, (double)json_integer_value(v), path, err)))
			return rc;
		*(int *)base = (int)json_integer_value(v);
		return ADA_OK;
	case F_DOUBLE:
		/* to_json writes valid_fraction < 0 (the default rule) as null:
		 * accept it back, so a job's method can be resubmitted as is. */
		if (json_is_null(v) && f->offset == OFF(valid_fraction)) {
			*(double *)base = -1;
			return ADA_OK;
		}
		if (!json_is_number(v))
			return bad(err, path, "%s must be a number%s", "");
		d = json_number_value(v);
		if ((rc = in_range(f, d, path, err)))
			return rc;
		*(double *)base = d;
		return ADA_OK;
	case F_BOOL:
		if (!json_is_boolean(v))
			return bad(err, path, "%s must be true or false%s", "");
		*(int *)base = json_is_true(v);
		return ADA_OK;
	case F_MODULES:
		return ada_modules_from_json(v, path, (unsigned *)base, err);
	case F_IMPORTANCE:
		if ((rc = parse_enum(v, importance_names, N_ELEMS(importance_names), &e, path, err)))
			return rc;
		*(enum ada_importance *)base = (enum ada_importance)e;
		return ADA_OK;
	case F_SCHEDULER:
		if ((rc = parse_enum(v, scheduler_names, N_ELEMS(scheduler_names), &e, path, err)))
			return rc;
		*(enum ada_lr_schedule *)base = (enum ada_lr_schedule)e;
		return ADA_OK;
	case F_CHAT_TEMPLATE:
		/* "auto" (or null): the model's own template; else a family */
		if (json_is_null(v) || (json_is_string(v) && !strcmp(json_string_value(v), "auto"))) {
			base[0] = '\0';
			return ADA_OK;
		}
		if (!json_is_string(v) || chat_family_from_name(json_string_value(v)) < 0)
			return ada_fail_param(err, ADA_EINVAL, path,
					      "%s must be \"auto\" (the model's own template) or one of: %s",
					      path, chat_family_list());
		snprintf(base, sizeof(((struct ada_hparams *)0)->chat_template), "%s",
			 json_string_value(v));
		return ADA_OK;
	case F_AUTO_BOOL:
		if (json_is_null(v) || (json_is_string(v) && !strcmp(json_string_value(v), "auto"))) {
			*(int *)base = -1;
			return ADA_OK;
		}
		if (!json_is_boolean(v))
			return bad(err, path, "%s must be true, false or \"auto\"%s", "");
		*(int *)base = json_is_true(v);
		return ADA_OK;
	case F_AUTO_INT:
		if (json_is_null(v) || (json_is_string(v) && !strcmp(json_string_value(v), "auto"))) {
			*(int *)base = 0;
			return ADA_OK;
		}
		if (!json_is_integer(v))
			return bad(err, path, "%s must be an integer or \"auto\"%s", "");
		if ((rc = in_range(f, (double)json_integer_value(v), path, err)))
			return rc;
		*(int *)base = (int)json_integer_value(v);
		return ADA_OK;
	case F_COMPUTE:
		if ((rc = parse_enum(v, compute_names, N_ELEMS(compute_names), &e, path, err)))
			return rc;
		/* a property of the machine, so refused when the job is created */
		if (e == ADA_COMPUTE_BF16 && !bf16_supported())
			return ada_fail_param(err, ADA_EUNSUPPORTED, path,
					      "%s: \"bf16\" needs a CPU with AVX512-BF16, which this machine's does not have; use \"fp32\"",
					      path);
		*(enum ada_compute_dtype *)base = (enum ada_compute_dtype)e;
		return ADA_OK;
	case F_ALL_INT64:
		if (json_is_string(v) && !strcmp(json_string_value(v), "all")) {
			*(int64_t *)base = -1;
			return ADA_OK;
		}
		if (!json_is_integer(v))
			return bad(err, path, "%s must be an integer or \"all\"%s", "");
		if ((rc = in_range(f, (double)json_integer_value(v), path, err)))
			return rc;
		*(int64_t *)base = (int64_t)json_integer_value(v);
		return ADA_OK;
	}
	return ADA_EINVAL;
}

/* Cross-field rules that need no data or model. */
static int check_consistency(const struct ada_method *m, const char *prefix, struct ada_err *err)
{
	const struct ada_hparams *hp = &m->hp;
	char path[160];

	if (hp->micro_batch_size > hp->batch_size) {
		snprintf(path, sizeof(path), "%s.micro_batch_size", prefix);
		return ada_fail_param(err, ADA_EINVAL, path,
				      "%s (%d) must not exceed batch_size (%d)", path,
				      hp->micro_batch_size, hp->batch_size);
	}
	if (hp->micro_batch_size && hp->batch_size % hp->micro_batch_size) {
		snprintf(path, sizeof(path), "%s.micro_batch_size", prefix);
		return ada_fail_param(err, ADA_EINVAL, path,
				      "%s (%d) must divide batch_size (%d)", path,
				      hp->micro_batch_size, hp->batch_size);
	}
	if ((m->type == ADA_METHOD_ADALORA || m->type == ADA_METHOD_LORA_PRUNE) &&
	    hp->target_r > hp->init_r) {
		snprintf(path, sizeof(path), "%s.target_r", prefix);
		return ada_fail_param(err, ADA_EINVAL, path,
				      "%s (%d) must not exceed init_r (%d)", path, hp->target_r,
				      hp->init_r);
	}
	if (hp->max_steps && hp->tinit + hp->tfinal >= hp->max_steps &&
	    (m->type == ADA_METHOD_ADALORA || m->type == ADA_METHOD_LORA_PRUNE)) {
		snprintf(path, sizeof(path), "%s.tfinal", prefix);
		return ada_fail_param(err, ADA_EINVAL, path,
				      "%s: tinit + tfinal (%lld) must be below the total steps (%lld), or no budget phase remains",
				      path, (long long)(hp->tinit + hp->tfinal), (long long)hp->max_steps);
	}
	if (m->type == ADA_METHOD_LORA_PRUNE && hp->importance == ADA_IMPORTANCE_MAGNITUDE) {
		snprintf(path, sizeof(path), "%s.importance", prefix);
		return ada_fail_param(err, ADA_EINVAL, path,
				      "%s: \"magnitude\" needs singular values; lora_prune has none",
				      path);
	}
	return ADA_OK;
}

/* A client's key after prefix (JSON: valid UTF-8), cut to fit path without
 * ending inside a character: it is quoted in messages and names param. */
static void key_path(char *path, size_t cap, const char *prefix, const char *key)
{
	snprintf(path, cap, "%s.%s", prefix, key);
	path[utf8_validate(path, strlen(path))] = '\0';
}

int ada_method_from_json(const json_t *method, struct ada_method *out, struct ada_err *err)
{
	const json_t *type, *sub = NULL, *hyper = NULL;
	const char *key;
	json_t *val;
	char prefix[128], path[192];
	int t, rc;

	if (!json_is_object(method))
		return ada_fail_param(err, ADA_EINVAL, "method", "method must be an object");
	type = json_object_get(method, "type");
	if (!type)
		return ada_fail_param(err, ADA_EINVAL, "method.type", "method.type is required");
	if (!json_is_string(type) || (t = method_from_name(json_string_value(type))) < 0)
		return ada_fail_param(err, ADA_EINVAL, "method.type",
				      "method.type must be one of: adalora, lora, full, lora_prune, bitfit, adapter");
	ada_method_defaults((enum ada_method_type)t, out);

	json_object_foreach((json_t *)method, key, val) {
		if (!strcmp(key, "type"))
			continue;
		if (strcmp(key, ada_method_name(t))) {
			key_path(path, sizeof(path), "method", key);
			return ada_fail_param(err, ADA_EINVAL, path,
					      "%s: unknown field (method.type is \"%s\")", path,
					      ada_method_name(t));
		}
		sub = val;
	}
	if (!sub)
		goto out_resolve;
	snprintf(prefix, sizeof(prefix), "method.%s", ada_method_name(t));
	if (!json_is_object(sub))
		return ada_fail_param(err, ADA_EINVAL, prefix, "%s must be an object", prefix);
	json_object_foreach((json_t *)sub, key, val) {
		if (strcmp(key, "hyperparameters")) {
			key_path(path, sizeof(path), prefix, key);
			return ada_fail_param(err, ADA_EINVAL, path, "%s: unknown field", path);
		}
		hyper = val;
	}
	if (!hyper)
		goto out_resolve;
	snprintf(prefix, sizeof(prefix), "method.%s.hyperparameters", ada_method_name(t));
	if (!json_is_object(hyper))
		return ada_fail_param(err, ADA_EINVAL, prefix, "%s must be an object", prefix);
	json_object_foreach((json_t *)hyper, key, val) {
		const struct field *f = NULL;
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!strcmp(fields[i].name, key))
				f = &fields[i];
		key_path(path, sizeof(path), prefix, key);
		if (!f || !(f->methods & (1u << t)))
			return ada_fail_param(err, ADA_EINVAL, path,
					      f ? "%s: not a hyperparameter of method \"%s\""
						: "%s: unknown field (method \"%s\")",
					      path, ada_method_name(t));
		if ((rc = parse_field(f, val, &out->hp, path, err)))
			return rc;
	}
	/* Unless given, micro-batches are whole batches (no accumulation),
	 * whatever batch_size was chosen. */
	if (!json_object_get(hyper, "micro_batch_size"))
		out->hp.micro_batch_size = out->hp.batch_size;
	if ((rc = check_consistency(out, prefix, err)))
		return rc;
out_resolve:
	if (!out->hp.micro_batch_size)
		out->hp.micro_batch_size = out->hp.batch_size;
	return ADA_OK;
}

static json_t *modules_to_json(unsigned mask)
{
	json_t *a = json_array();

	for (int m = 0; m < N_LLAMA_MODULES; m++)
		if (mask & (1u << m))
			json_array_append_new(a, json_string(llama_module_name(m)));
	return a;
}

json_t *ada_method_to_json(const struct ada_method *m)
{
	json_t *hp = json_object(), *sub = json_object(), *root = json_object();
	const char *base = (const char *)&m->hp;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		const void *p = base + f->offset;
		json_t *v = NULL;

		if (!(f->methods & (1u << m->type)))
			continue;
		switch (f->kind) {
		case F_INT: v = json_integer(*(const int *)p); break;
		case F_INT64: v = json_integer(*(const int64_t *)p); break;
		case F_STEPS:
			v = *(const int64_t *)p ? json_integer(*(const int64_t *)p) : json_null();
			break;
		case F_EPOCHS:
			v = *(const int *)p ? json_integer(*(const int *)p) : json_string("auto");
			break;
		case F_BATCH: v = json_integer(*(const int *)p); break;
		case F_DOUBLE:
			/* valid_fraction < 0 means "the default rule": say null */
			v = *(const double *)p < 0 ? json_null() : json_real(*(const double *)p);
			break;
		case F_BOOL: v = json_boolean(*(const int *)p); break;
		case F_MODULES: v = modules_to_json(*(const unsigned *)p); break;
		case F_IMPORTANCE: v = json_string(ada_importance_name(*(const enum ada_importance *)p)); break;
		case F_SCHEDULER: v = json_string(ada_lr_schedule_name(*(const enum ada_lr_schedule *)p)); break;
		case F_CHAT_TEMPLATE:
			v = json_string(*(const char *)p ? (const char *)p : "auto");
			break;
		case F_AUTO_BOOL:
			v = *(const int *)p < 0 ? json_string("auto") : json_boolean(*(const int *)p);
			break;
		case F_AUTO_INT:
			v = *(const int *)p ? json_integer(*(const int *)p) : json_string("auto");
			break;
		case F_COMPUTE:
			v = json_string(ada_compute_dtype_name(*(const enum ada_compute_dtype *)p));
			break;
		case F_ALL_INT64:
			v = *(const int64_t *)p < 0 ? json_string("all")
						    : json_integer(*(const int64_t *)p);
			break;
		}
		json_object_set_new(hp, f->name, v);
	}
	json_object_set_new(sub, "hyperparameters", hp);
	json_object_set_new(root, "type", json_string(ada_method_name(m->type)));
	json_object_set_new(root, ada_method_name(m->type), sub);
	return root;
}
