/* inference_net — model + tokenizer + adapter, frozen; see inference_net.h. */
#include "infer/inference_net.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/fpenv.h"
#include "net/model_bind.h"

/* BART: the encoder-decoder, with a seq2seq adapter's factors. */
static int open_bart(struct inference_net *in, const struct ada_infer_opts *o,
		     struct ada_err *err)
{
	const struct model_config *c = &in->model->cfg;
	int rc;

	in->bart_blocks = xcalloc((size_t)c->n_layers, sizeof(*in->bart_blocks));
	if (!in->bart_blocks) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_close;
	}
	bart_net_from_model(&in->bart, in->bart_blocks, in->model);
	if (!o->adapter)
		return ADA_OK;
	if ((rc = peft_adapter_load(o->adapter, c, &in->adapter, err)))
		goto out_close;
	if ((rc = peft_adapter_attach_bart(&in->adapter, c, &in->bart, err))) {
		ada_err_prefix(err, rc, "%s", o->adapter);
		goto out_close;
	}
	return ADA_OK;
out_close:
	inference_net_close(in);
	return rc;
}

int inference_net_open(struct inference_net *in, const struct ada_infer_opts *o,
		       struct ada_err *err)
{
	const struct model_config *c;
	int rc, bert;

	memset(in, 0, sizeof(*in));
	fpenv_flush_subnormals();   /* the same arithmetic as training */
	if ((rc = model_load(o->model, o->tokenizer, &in->model, err)))
		return rc;
	c = &in->model->cfg;
	bert = c->family == ADA_FAMILY_BERT;
	if ((rc = model_open_tokenizer(in->model, o->tokenizer, &in->tok, err)))
		goto out_close;
	if (c->family == ADA_FAMILY_BART)
		return open_bart(in, o, err);
	if (bert)
		in->bert_blocks = xcalloc((size_t)c->n_layers, sizeof(*in->bert_blocks));
	else
		in->blocks = xcalloc((size_t)c->n_layers, sizeof(*in->blocks));
	if (!in->blocks && !in->bert_blocks) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_close;
	}
	if (bert)
		bert_net_from_model(&in->bert, in->bert_blocks, in->model);
	else
		llama_net_from_model(&in->net, in->blocks, in->model);
	if (!o->adapter)
		return ADA_OK;
	if ((rc = peft_adapter_load(o->adapter, c, &in->adapter, err)))
		goto out_close;
	if (in->adapter.classifier)
		seq_head_from_model(&in->head, in->model, in->adapter.n_labels);
	if (in->adapter.question_answering && !bert) {
		rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: a question answering adapter on a decoder",
			      o->adapter);
		goto out_close;
	}
	if (in->adapter.question_answering &&
	    (rc = peft_adapter_attach_qa(&in->adapter, c, &in->qa, err))) {
		ada_err_prefix(err, rc, "%s", o->adapter);
		goto out_close;
	}
	rc = peft_adapter_attach(&in->adapter, c, bert ? NULL : &in->net, bert ? &in->bert : NULL,
				 in->adapter.classifier ? &in->head : NULL, err);
	if (rc) {
		ada_err_prefix(err, rc, "%s", o->adapter);
		goto out_close;
	}
	if (in->adapter.question_answering) {
		in->is_qa = 1;
		in->span = (struct span_net){ .enc = { .family = c->family, .bert = &in->bert },
					      .qa = &in->qa };
	}
	if (in->adapter.classifier) {
		in->is_classifier = 1;
		in->cls = (struct classifier){
			.family = c->family,
			.llama = bert ? NULL : &in->net,
			.bert = bert ? &in->bert : NULL,
			.head = &in->head,
			.n_labels = in->adapter.n_labels,
			.regression = in->adapter.labels.kind == ADA_LABEL_FLOAT,
		};
	}
	return ADA_OK;
out_close:
	inference_net_close(in);
	return rc;
}

void inference_net_close(struct inference_net *in)
{
	peft_adapter_release(&in->adapter);
	free(in->blocks);
	free(in->bert_blocks);
	free(in->bart_blocks);
	tokenizer_free(in->tok);
	model_free(in->model);
	memset(in, 0, sizeof(*in));
}
