/*
 * Export then import of PEFT adapters: the logits of a trained network and
 * of the same base model with its exported adapter loaded back are equal,
 * for AdaLoRA (with masked triplets and modules pruned to rank 0, before
 * and after compaction) and for LoRA; the files look like PEFT's.
 */
#include "check.h"

#include <sys/stat.h>

#include "adalora.h"
#include "infer/inference_net.h"
#include "adapter/export_peft.h"
#include "net/trained_net.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/rng.h"

static char *tmp;
static const struct net_spec lm_spec = { .task = ADA_TASK_CAUSAL_LM };
static char model_path[4200];

#define B 2
#define T 12

static void logits_of(const struct llama_net *net, const int32_t *tokens, float *out)
{
	struct llama_acts a;

	if (llama_acts_init(&a, &net->d, B, T, 2)) {
		CHECK(0);
		return;
	}
	llama_forward(net, &a, tokens, NULL, B, 0, NULL, NULL, &(struct nn_step){ 0 });
	memcpy(out, a.logits, sizeof(float) * B * T * (size_t)net->d.vocab);
	llama_acts_release(&a);
}

static void check_round_trip(enum ada_method_type t, int compact)
{
	struct inference_net base, loaded;
	struct ada_infer_opts o = { .model = model_path };
	struct trained_net tn;
	struct ada_method m;
	struct ada_err err = { 0 };
	struct rng r;
	bool *kept[64];
	uint8_t *keep8[64];
	int32_t tokens[B * T];
	char dir[4300];
	float *want, *got;
	double maxdiff = 0;
	const int V = 260;

	snprintf(dir, sizeof(dir), "%s/%s-%d", tmp, ada_method_name(t), compact);
	CHECK_OK(inference_net_open(&base, &o, &err), &err);
	ada_method_defaults(t, &m);
	m.hp.init_r = 4;
	m.hp.r = 3;
	m.hp.lora_alpha = 16;
	CHECK_OK(trained_net_build(&tn, base.model, &m, &lm_spec, 5, 1, &err), &err);
	rng_seed(&r, 11);
	/* Make every factor nonzero (LoRA's B starts at 0) and mask some triplets. */
	for (size_t i = 0; i < tn.arena.n; i++)
		tn.arena.w[i] = (float)(0.3 * rng_normal(&r));
	for (int i = 0; i < tn.n_mods; i++) {
		struct lowrank *lr = tn.mods[i].lr;
		kept[i] = calloc((size_t)lr->r, sizeof(bool));
		keep8[i] = calloc((size_t)lr->r, 1);
		for (int j = 0; j < lr->r; j++) {
			kept[i][j] = i % 4 != 1 && rng_below(&r, 3) != 0;   /* i % 4 == 1: rank 0 */
			keep8[i][j] = kept[i][j];
			if (t == ADA_METHOD_ADALORA && !kept[i][j])
				lr->g[j] = 0;
		}
	}
	for (int i = 0; i < B * T; i++)
		tokens[i] = (int32_t)rng_below(&r, V);
	want = malloc(sizeof(float) * B * T * V);
	got = malloc(sizeof(float) * B * T * V);
	logits_of(&tn.net, tokens, want);
	if (compact)
		CHECK_OK(trained_net_compact(&tn, (const uint8_t *const *)keep8, &err), &err);
	struct export_info info = { .base_model = model_path, .total_steps = 100,
				    .kept = t == ADA_METHOD_ADALORA ? (const bool *const *)kept : NULL };
	CHECK_OK(export_peft(&tn, &info, dir, &err), &err);

	o.adapter = dir;
	CHECK_OK(inference_net_open(&loaded, &o, &err), &err);
	CHECK_STR_EQ(loaded.adapter.peft_type, t == ADA_METHOD_ADALORA ? "ADALORA" : "LORA");
	logits_of(&loaded.net, tokens, got);
	for (int i = 0; i < B * T * V; i++) {
		double d = fabs((double)want[i] - got[i]);
		maxdiff = d > maxdiff ? d : maxdiff;
	}
	CHECK_MSG(maxdiff < 1e-5, "%s: logits differ by %g after export/import",
		  ada_method_name(t), maxdiff);

	/* adapter_config.json is what PEFT expects. */
	{
		char path[4400];
		json_t *cfg;
		snprintf(path, sizeof(path), "%s/adapter_config.json", dir);
		cfg = json_load_file(path, 0, NULL);
		CHECK(cfg != NULL);
		if (t == ADA_METHOD_ADALORA) {
			json_t *rp = json_object_get(cfg, "rank_pattern");
			json_t *e = json_object_get(rp, "model.layers.0.self_attn.k_proj.lora_E");
			CHECK_STR_EQ(json_string_value(json_object_get(cfg, "peft_type")), "ADALORA");
			CHECK(json_integer_value(json_object_get(cfg, "total_step")) == 100);
			CHECK(json_is_array(e) && json_array_size(e) == 4);
			CHECK(json_object_get(cfg, "ranknum") == NULL);
		} else {
			CHECK_STR_EQ(json_string_value(json_object_get(cfg, "peft_type")), "LORA");
			CHECK(json_integer_value(json_object_get(cfg, "r")) == 3);
		}
		json_decref(cfg);
	}
	for (int i = 0; i < tn.n_mods; i++) {
		free(kept[i]);
		free(keep8[i]);
	}
	free(want);
	free(got);
	inference_net_close(&loaded);
	trained_net_release(&tn);
	inference_net_close(&base);
}

static void test_adalora_round_trip(void)
{
	check_round_trip(ADA_METHOD_ADALORA, 0);
	check_round_trip(ADA_METHOD_ADALORA, 1);
}

static void test_lora_round_trip(void)
{
	check_round_trip(ADA_METHOD_LORA, 0);
}

/* The compacted AdaLoRA adapter of the round trip: made (and checked) here
 * when test_merge runs before it, or alone. */
static const char *compacted_adalora(void)
{
	static char dir[4300];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/%s-%d", tmp, ada_method_name(ADA_METHOD_ADALORA), 1);
	if (stat(dir, &st))
		check_round_trip(ADA_METHOD_ADALORA, 1);
	return dir;
}

/* export --merge: the merged model alone gives the logits of base + adapter,
 * as GGUF (with the base's tokenizer) and as a Hugging Face directory. */
static void test_merge(void)
{
	struct inference_net with_adapter, merged;
	struct ada_infer_opts o = { .model = model_path };
	struct ada_err err = { 0 };
	struct rng r;
	int32_t tokens[B * T];
	char gguf[4300], hf[4300];
	const int V = 260;
	float *want = malloc(sizeof(float) * B * T * V), *got = malloc(sizeof(float) * B * T * V);
	const char *outs[2] = { gguf, hf };

	snprintf(gguf, sizeof(gguf), "%s/merged.gguf", tmp);
	snprintf(hf, sizeof(hf), "%s/merged-hf", tmp);
	rng_seed(&r, 12);
	for (int i = 0; i < B * T; i++)
		tokens[i] = (int32_t)rng_below(&r, V);
	o.adapter = compacted_adalora();
	CHECK_OK(inference_net_open(&with_adapter, &o, &err), &err);
	logits_of(&with_adapter.net, tokens, want);
	CHECK_OK(ada_export_merged(&o, gguf, "gguf", &err), &err);
	CHECK_OK(ada_export_merged(&o, hf, "hf", &err), &err);
	for (int f = 0; f < 2; f++) {
		struct ada_infer_opts mo = { .model = outs[f], .tokenizer = f ? model_path : NULL };
		double maxdiff = 0;
		CHECK_OK(inference_net_open(&merged, &mo, &err), &err);
		if (!merged.model)
			continue;
		logits_of(&merged.net, tokens, got);
		for (int i = 0; i < B * T * V; i++) {
			double d = fabs((double)want[i] - got[i]);
			maxdiff = d > maxdiff ? d : maxdiff;
		}
		CHECK_MSG(maxdiff < 1e-4, "merged %s: logits differ by %g", f ? "hf" : "gguf", maxdiff);
		inference_net_close(&merged);
	}
	CHECK_INT_EQ(ada_export_merged(&o, gguf, "onnx", &err), ADA_EINVAL);
	inference_net_close(&with_adapter);
	free(want);
	free(got);
}

static void test_import_errors(void)
{
	struct inference_net in;
	struct ada_infer_opts o = { .model = model_path };
	struct ada_err err = { 0 };
	char dir[4300], path[4400];

	snprintf(dir, sizeof(dir), "%s/bad-adapter", tmp);
	mkdir_p(dir, 0755, NULL);
	o.adapter = dir;
	CHECK(inference_net_open(&in, &o, &err) != ADA_OK);       /* no files */
	snprintf(path, sizeof(path), "%s/adapter_config.json", dir);
	file_write_atomic(path, "{\"peft_type\":\"IA3\"}", strlen("{\"peft_type\":\"IA3\"}"), NULL);
	CHECK_INT_EQ(inference_net_open(&in, &o, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "IA3") != NULL);
	{
		const char *dora = "{\"peft_type\":\"LORA\",\"use_dora\":true}";
		file_write_atomic(path, dora, strlen(dora), NULL);
	}
	CHECK_INT_EQ(inference_net_open(&in, &o, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "use_dora") != NULL);
}

int main(void)
{
	struct ada_err err;

	tmp = check_tmpdir("peft");
	snprintf(model_path, sizeof(model_path), "%s/tiny.gguf", tmp);
	if (ada_create_model("tiny", 2, model_path, &err)) {
		fprintf(stderr, "create model: %s\n", err.msg);
		return 1;
	}
	RUN(test_adalora_round_trip);
	RUN(test_lora_round_trip);
	RUN(test_merge);
	RUN(test_import_errors);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
