/* Extractive QA end to end in the library: a tiny random encoder (BERT and
 * RoBERTa and DeBERTa-v3 shapes) learns the zebra span task (find "zebra <word>") with
 * AdaLoRA on the encoder and qa_outputs trained in full, to a validation F1
 * of at least 0.9 (the official metric); its PEFT adapter
 * (task_type QUESTION_ANS, qa_outputs under modules_to_save, qa.json) loads
 * back with `adalora eval`'s ada_eval and scores the same; SQuAD v2 data
 * with unanswerable questions trains too; a decoder is refused for QA,
 * naming the task. */
#include "check.h"
#include "scratch.h"
#include "task_data.h"

#include <jansson.h>

#include "adalora.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;

static void qa_job(struct ada_job *job, const char *model, const char *train, const char *valid,
		   const char *out)
{
	memset(job, 0, sizeof(*job));
	job->model = model;
	job->train_file = train;
	job->valid_file = valid;
	job->out_dir = out;
	job->seed = 11;
	job->threads = 2;
	job->task = ADA_TASK_QUESTION_ANSWERING;
	ada_method_defaults(ADA_METHOD_ADALORA, &job->method);
	job->method.hp.max_steps = 250;
	job->method.hp.batch_size = 16;
	job->method.hp.seq_len = 24;
	job->method.hp.learning_rate = 2e-2;
	job->method.hp.warmup_steps = 5;
	job->method.hp.log_every = 20;
	job->method.hp.checkpoint_every = 0;
	job->method.hp.init_r = 4;
	job->method.hp.target_r = 2;
	job->method.hp.tinit = 40;
	job->method.hp.tfinal = 80;
	job->method.hp.delta_t = 5;
	job->method.hp.doc_stride = 4;
	job->method.hp.max_answer_length = 4;
}

static void learns(const char *arch)
{
	const char *model = scratch_path(tmp, "%s", arch);
	const char *train = scratch_path(tmp, "%s-train.jsonl", arch);
	const char *valid = scratch_path(tmp, "%s-valid.json", arch);
	const char *out = scratch_path(tmp, "%s-out", arch);
	char adapter[4400];
	struct ada_job job;
	struct ada_result res;
	struct ada_eval_result ev;
	struct ada_err err = { 0 };
	json_t *cfg;

	CHECK_OK(task_make_encoder(arch, 3, model, &err), &err);
	CHECK_OK(task_write_qa(train, 400, 1, 0, 0, &err), &err);
	CHECK_OK(task_write_qa(valid, 60, 2, 1, 0, &err), &err);      /* SQuAD JSON */
	qa_job(&job, model, train, valid, out);
	CHECK_OK(ada_train(&job, &res, &err), &err);
	fprintf(stderr, "  %s: exact %.1f, F1 %.1f (loss %.3f -> %.3f)\n", arch, res.qa.exact,
		res.qa.f1, res.valid_loss_initial, res.valid_loss);
	CHECK_INT_EQ(res.plan.task, ADA_TASK_QUESTION_ANSWERING);
	CHECK_MSG(res.qa.f1 >= 90.0, "%s: F1 %.2f after %lld steps", arch, res.qa.f1,
		  (long long)res.steps);
	CHECK(res.valid_loss < res.valid_loss_initial);
	CHECK_INT_EQ(res.qa.total, 60);

	/* the adapter: PEFT's QUESTION_ANS layout */
	snprintf(adapter, sizeof(adapter), "%s/adapter", out);
	cfg = json_load_file(scratch_path(adapter, "adapter_config.json"), 0, NULL);
	CHECK(cfg && !strcmp(json_string_value(json_object_get(cfg, "task_type")), "QUESTION_ANS"));
	CHECK(cfg && !strcmp(json_string_value(json_array_get(json_object_get(cfg, "modules_to_save"), 0)),
			     "qa_outputs"));
	json_decref(cfg);
	CHECK(file_exists(scratch_path(adapter, "qa.json")));
	{
		json_t *q = json_load_file(scratch_path(adapter, "qa.json"), 0, NULL);
		CHECK(json_is_false(json_object_get(q, "version_2_with_negative")));
		json_decref(q);
	}
	{
		struct ada_infer_opts o = { .model = model, .adapter = adapter };
		CHECK_OK(ada_eval(&o, valid, ADA_FILE_AUTO, 0, NULL, &ev, &err), &err);
		CHECK(ev.question_answering);
		CHECK_INT_EQ(ev.examples, 60);
		CHECK_MSG(fabs(ev.qa.f1 - res.qa.f1) < 1e-9 && fabs(ev.qa.exact - res.qa.exact) < 1e-9,
			  "eval F1 %.4f exact %.4f vs training's %.4f %.4f", ev.qa.f1, ev.qa.exact,
			  res.qa.f1, res.qa.exact);
		CHECK(fabs(ev.loss - res.valid_loss) < 1e-6);
	}
	ada_result_release(&res);
}

static void test_bert_learns(void)
{
	learns("bert");
}

static void test_roberta_learns(void)
{
	learns("roberta");
}

/* DeBERTa-v3's disentangled encoder under the same head (qa_outputs on the
 * last hidden states, no pooler), as DebertaV2ForQuestionAnswering. */
static void test_deberta_learns(void)
{
	learns("deberta-v2");
}

/* SQuAD v2: every 4th question has no answer; the result reports the splits. */
static void test_v2(void)
{
	const char *model = scratch_path(tmp, "bert-v2");
	const char *train = scratch_path(tmp, "v2-train.json");
	const char *out = scratch_path(tmp, "v2-out");
	struct ada_job job;
	struct ada_result res;
	struct ada_err err = { 0 };

	CHECK_OK(task_make_encoder("bert", 4, model, &err), &err);
	CHECK_OK(task_write_qa(train, 240, 3, 1, 4, &err), &err);
	qa_job(&job, model, train, NULL, out);
	job.task = ADA_TASK_AUTO;               /* told by the data */
	job.method.hp.max_steps = 40;
	job.method.hp.tinit = 5;
	job.method.hp.tfinal = 10;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.plan.task, ADA_TASK_QUESTION_ANSWERING);
	CHECK_INT_EQ(res.qa.total, 12);         /* 5% of 240 held out */
	CHECK(res.qa.has_ans_total + res.qa.no_ans_total == 12 && res.qa.no_ans_total > 0);
	CHECK(isfinite(res.qa.no_ans_f1) && isfinite(res.qa.has_ans_f1));
	{
		/* qa.json says so: serving lets the null answer compete */
		json_t *q = json_load_file(scratch_path(out, "adapter/qa.json"), 0, NULL);
		CHECK(json_is_true(json_object_get(q, "version_2_with_negative")));
		json_decref(q);
	}
	ada_result_release(&res);
}

static void test_decoder_refused(void)
{
	const char *model = scratch_path(tmp, "tiny.gguf");
	const char *train = scratch_path(tmp, "d-train.jsonl");
	struct ada_job job;
	struct ada_plan plan;
	struct ada_err err = { 0 };

	CHECK_OK(ada_create_model("tiny", 1, model, &err), &err);
	CHECK_OK(task_write_qa(train, 30, 3, 0, 0, &err), &err);
	qa_job(&job, model, train, NULL, scratch_path(tmp, "d-out"));
	CHECK_INT_EQ(ada_job_plan(&job, &plan, &err), ADA_EINVAL);
	CHECK_MSG(!strcmp(err.param, "task") && strstr(err.msg, "encoder"), "%s: %s", err.param, err.msg);
}

int main(void)
{
	int rc;

	tmp = check_tmpdir("qa");
	RUN(test_bert_learns);
	RUN(test_roberta_learns);
	RUN(test_deberta_learns);
	RUN(test_v2);
	RUN(test_decoder_refused);
	rc = check_summary();
	remove_tree(tmp, NULL);
	free(tmp);
	return rc;
}
