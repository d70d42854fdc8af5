/* Tests of train/method.c and method_check.c: the API's "method" object,
 * alone and against a model and a run. */
#include "check.h"

#include "adalora.h"

static int parse(const char *text, struct ada_method *m, struct ada_err *err)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	int rc;

	if (!j) {
		fprintf(stderr, "bad test JSON: %s\n", jerr.text);
		return -1;
	}
	rc = ada_method_from_json(j, m, err);
	json_decref(j);
	return rc;
}

static void expect_param(const char *text, const char *param)
{
	struct ada_method m;
	struct ada_err err = { 0 };
	int rc = parse(text, &m, &err);

	CHECK_MSG(rc == ADA_EINVAL, "%s: rc %d", text, rc);
	CHECK_MSG(!strcmp(err.param, param), "%s: param '%s' want '%s' (%s)", text, err.param,
		  param, err.msg);
	CHECK_MSG(strstr(err.msg, param) != NULL, "message names the field: %s", err.msg);
}

static void test_defaults(void)
{
	struct ada_method m;
	struct ada_err err;

	CHECK_OK(parse("{\"type\":\"adalora\"}", &m, &err), &err);
	CHECK_INT_EQ(m.type, ADA_METHOD_ADALORA);
	CHECK_INT_EQ(m.hp.init_r, 12);
	CHECK_INT_EQ(m.hp.target_r, 8);
	CHECK_INT_EQ(m.hp.delta_t, 10);
	CHECK_NEAR(m.hp.beta1, 0.85, 0);
	CHECK_NEAR(m.hp.orth_reg_weight, 0.5, 0);
	CHECK_INT_EQ(m.hp.target_modules, ADA_MODULES_ALL);
	CHECK_INT_EQ(m.hp.micro_batch_size, m.hp.batch_size);
	CHECK_OK(parse("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"r\":4,"
		       "\"target_modules\":[\"q\",\"v_proj\"],\"batch_size\":\"auto\"}}}", &m, &err),
		 &err);
	CHECK_INT_EQ(m.hp.r, 4);
	CHECK_INT_EQ(m.hp.target_modules, (1u << 0) | (1u << 2));
	CHECK_INT_EQ(m.hp.batch_size, 8);

	/* the paper's BERT names stand for the bits of their places */
	CHECK_OK(parse("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"target_modules\":"
		       "[\"query\",\"attention.self.value\",\"attention.output.dense\","
		       "\"intermediate.dense\",\"output.dense\"]}}}", &m, &err), &err);
	CHECK_INT_EQ(m.hp.target_modules, (1u << 0) | (1u << 2) | (1u << 3) | (1u << 5) | (1u << 6));

	/* the baselines: bitfit and Houlsby adapters */
	CHECK_OK(parse("{\"type\":\"bitfit\"}", &m, &err), &err);
	CHECK_INT_EQ(m.type, ADA_METHOD_BITFIT);
	CHECK_STR_EQ(ada_method_name(m.type), "bitfit");
	CHECK_INT_EQ(m.hp.target_modules, 0);
	CHECK_NEAR(m.hp.learning_rate, 1e-3, 0);
	CHECK_OK(parse("{\"type\":\"adapter\",\"adapter\":{\"hyperparameters\":{\"adapter_size\":16,"
		       "\"learning_rate\":5e-4}}}", &m, &err), &err);
	CHECK_INT_EQ(m.type, ADA_METHOD_ADAPTER);
	CHECK_STR_EQ(ada_method_name(m.type), "adapter");
	CHECK_INT_EQ(m.hp.adapter_size, 16);
	CHECK_OK(parse("{\"type\":\"adapter\"}", &m, &err), &err);
	CHECK_INT_EQ(m.hp.adapter_size, 64);
}

static void test_errors_name_the_field(void)
{
	expect_param("{}", "method.type");
	expect_param("{\"type\":\"qlora\"}", "method.type");
	expect_param("{\"type\":\"lora\",\"adalora\":{}}", "method.adalora");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyper\":{}}}", "method.lora.hyper");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"rank\":4}}}",
		     "method.lora.hyperparameters.rank");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"init_r\":4}}}",
		     "method.lora.hyperparameters.init_r");
	expect_param("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"init_r\":\"12\"}}}",
		     "method.adalora.hyperparameters.init_r");
	expect_param("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"init_r\":-3}}}",
		     "method.adalora.hyperparameters.init_r");
	expect_param("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"init_r\":4,\"target_r\":6}}}",
		     "method.adalora.hyperparameters.target_r");
	expect_param("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"deltaT\":0}}}",
		     "method.adalora.hyperparameters.deltaT");
	expect_param("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"max_steps\":100,"
		     "\"tinit\":50,\"tfinal\":50}}}", "method.adalora.hyperparameters.tfinal");
	expect_param("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"learning_rate\":100}}}",
		     "method.adalora.hyperparameters.learning_rate");
	expect_param("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"importance\":\"random\"}}}",
		     "method.adalora.hyperparameters.importance");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"target_modules\":[\"q\",\"lm_head\"]}}}",
		     "method.lora.hyperparameters.target_modules[1]");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"target_modules\":[]}}}",
		     "method.lora.hyperparameters.target_modules");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"batch_size\":8,\"micro_batch_size\":3}}}",
		     "method.lora.hyperparameters.micro_batch_size");
	expect_param("{\"type\":\"full\",\"full\":{\"hyperparameters\":{\"r\":8}}}",
		     "method.full.hyperparameters.r");
	expect_param("{\"type\":\"lora_prune\",\"lora_prune\":{\"hyperparameters\":{\"importance\":\"magnitude\"}}}",
		     "method.lora_prune.hyperparameters.importance");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"seq_len\":1.5}}}",
		     "method.lora.hyperparameters.seq_len");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"adapter_size\":8}}}",
		     "method.lora.hyperparameters.adapter_size");
	expect_param("{\"type\":\"adapter\",\"adapter\":{\"hyperparameters\":{\"adapter_size\":0}}}",
		     "method.adapter.hyperparameters.adapter_size");
	expect_param("{\"type\":\"adapter\",\"adapter\":{\"hyperparameters\":{\"r\":8}}}",
		     "method.adapter.hyperparameters.r");
	expect_param("{\"type\":\"bitfit\",\"bitfit\":{\"hyperparameters\":{\"target_modules\":[\"q\"]}}}",
		     "method.bitfit.hyperparameters.target_modules");
	expect_param("{\"type\":\"bitfit\",\"bitfit\":{\"hyperparameters\":{\"adapter_size\":8}}}",
		     "method.bitfit.hyperparameters.adapter_size");
	expect_param("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"target_modules\":[\"query\",\"pooler\"]}}}",
		     "method.lora.hyperparameters.target_modules[1]");
}

/* micro_batch_size follows batch_size unless given. */
static void test_micro_batch_follows_batch(void)
{
	struct ada_method m;
	struct ada_err err;

	CHECK_OK(parse("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":{\"batch_size\":4}}}",
		       &m, &err), &err);
	CHECK_INT_EQ(m.hp.micro_batch_size, 4);
	CHECK_OK(parse("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"batch_size\":32}}}",
		       &m, &err), &err);
	CHECK_INT_EQ(m.hp.micro_batch_size, 32);
	CHECK_OK(parse("{\"type\":\"lora\",\"lora\":{\"hyperparameters\":{\"batch_size\":32,\"micro_batch_size\":8}}}",
		       &m, &err), &err);
	CHECK_INT_EQ(m.hp.micro_batch_size, 8);
}

/* to_json fills every default, and parsing it back gives the same method. */
static void test_round_trip(void)
{
	const char *types[] = { "adalora", "lora", "full", "lora_prune", "bitfit", "adapter" };

	for (int i = 0; i < 6; i++) {
		struct ada_method a, b;
		struct ada_err err;
		char text[64];
		snprintf(text, sizeof(text), "{\"type\":\"%s\"}", types[i]);
		CHECK_OK(parse(text, &a, &err), &err);
		json_t *j = ada_method_to_json(&a);
		CHECK_OK(ada_method_from_json(j, &b, &err), &err);
		CHECK(memcmp(&a.hp, &b.hp, sizeof(a.hp)) == 0);
		json_decref(j);
	}
}

/* Matrices per family: BERT's six take the bits of q k v o up down. */
static void test_model_matrices(void)
{
	struct ada_model_info llama = { .family = ADA_FAMILY_LLAMA, .n_layers = 5 };
	struct ada_model_info bert = { .family = ADA_FAMILY_BERT, .n_layers = 2 };
	struct ada_err err = { 0 };
	unsigned mask = 0;
	json_t *v;

	CHECK_INT_EQ(ada_model_matrices(&llama, ADA_MODULES_ALL), 35);
	CHECK_INT_EQ(ada_model_matrices(&bert, ADA_MODULES_ALL), 12);
	v = json_pack("[s,s]", "gate", "v");
	CHECK_OK(ada_modules_from_json(v, "target_modules", &mask, &err), &err);
	CHECK_INT_EQ(ada_model_matrices(&llama, mask), 10);
	CHECK_INT_EQ(ada_model_matrices(&bert, mask), 2);   /* gate: no BERT counterpart */
	json_decref(v);
	v = json_pack("[s,s]", "q", "bogus");
	CHECK_INT_EQ(ada_modules_from_json(v, "target_modules", &mask, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "target_modules[1]");
	json_decref(v);
}

/* The budget check names the fields a client wrote: the total follows
 * from max_steps or the data (tfinal is blamed), the matrices from
 * target_modules. */
static void test_budget_names_fields(void)
{
	struct ada_method m;
	struct ada_schedule s;
	struct ada_err err = { 0 };
	struct ada_model_info info = { .family = ADA_FAMILY_BERT, .n_layers = 2,
				       .context_length = 512 };

	CHECK_OK(parse("{\"type\":\"adalora\",\"adalora\":{\"hyperparameters\":"
		       "{\"tinit\":10,\"tfinal\":20,\"init_r\":6,\"target_r\":2}}}", &m, &err), &err);
	CHECK_OK(ada_method_budget(&m, 100, 12, &s, &err), &err);
	CHECK_INT_EQ(s.total_steps, 100);
	CHECK_INT_EQ(s.n_matrices, 12);
	CHECK_INT_EQ(s.init_r, 6);
	CHECK_INT_EQ(ada_method_budget(&m, 30, 12, &s, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.adalora.hyperparameters.tfinal");
	CHECK_INT_EQ(ada_method_budget(&m, 100, 0, &s, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.adalora.hyperparameters.target_modules");

	/* Against a model: seq_len, and the schedule once max_steps is known. */
	CHECK_OK(ada_method_check_model(&m, &info, &err), &err);   /* seq_len 256 */
	m.hp.seq_len = 513;
	CHECK_INT_EQ(ada_method_check_model(&m, &info, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.adalora.hyperparameters.seq_len");
	m.hp.seq_len = 64;
	m.hp.max_steps = 31;
	CHECK_OK(ada_method_check_model(&m, &info, &err), &err);
	m.hp.target_modules = 1u << 4;   /* gate only: nothing on BERT */
	CHECK_INT_EQ(ada_method_check_model(&m, &info, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.adalora.hyperparameters.target_modules");
	m.hp.target_modules = ADA_MODULES_ALL;

	/* Gradient checkpointing: decoders only. */
	m.hp.gradient_checkpointing = 1;
	CHECK_INT_EQ(ada_method_check_model(&m, &info, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "method.adalora.hyperparameters.gradient_checkpointing");
	info.family = ADA_FAMILY_LLAMA;
	CHECK_OK(ada_method_check_model(&m, &info, &err), &err);

	/* No budget, nothing to check. */
	ada_method_defaults(ADA_METHOD_LORA, &m);
	CHECK_OK(ada_method_budget(&m, 1, 0, &s, &err), &err);
	CHECK_INT_EQ(s.n_matrices, 0);
	CHECK(!ada_method_has_budget(ADA_METHOD_LORA) && ada_method_has_budget(ADA_METHOD_LORA_PRUNE));
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_errors_name_the_field);
	RUN(test_round_trip);
	RUN(test_micro_batch_follows_batch);
	RUN(test_model_matrices);
	RUN(test_budget_names_fields);
	return check_summary();
}
