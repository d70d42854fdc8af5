/*
 * encoder — the hidden states of an encoder, whatever its family, for the
 * heads that read every position (extractive QA's qa_outputs).
 *
 * One switch over the family in one place: the BERT family (BERT, RoBERTa:
 * nn/bert.h) today. Another encoder (DeBERTa-v2/v3) plugs in by adding its
 * net pointer to struct encoder and its acts to struct encoder_acts, and a
 * case to each function of encoder.c; every task built on this file (QA's
 * span_net.h) then runs on it unchanged.
 *
 * struct encoder borrows the network (a trained_net's or an
 * inference_net's); struct encoder_acts owns the activations of one
 * (batch, sequence) shape.
 */
#ifndef ADA_NET_ENCODER_H
#define ADA_NET_ENCODER_H

#include <stdint.h>

#include "adalora.h"
#include "nn/bert.h"

struct encoder {
	enum ada_family family;
	const struct bert_net *bert;    /* ADA_FAMILY_BERT (borrowed) */
};

struct encoder_acts {
	int B, T;
	struct bert_acts bert;
	int32_t *types;                 /* [B][T] token types of the last forward */
	real *hidden;                   /* [B*T][dim] the output of the last forward */
	real *dhidden;                  /* its gradient, for encoder_backward */
};

/* ADA_EUNSUPPORTED for a family that is no encoder. */
int encoder_acts_init(struct encoder_acts *a, const struct encoder *e, int B, int T,
		      int n_threads);
void encoder_acts_release(struct encoder_acts *a);
int encoder_dim(const struct encoder *e);

/* Forward ids [B][T], types [B][T] (NULL: 0) and lengths [B] (borrowed;
 * pass the same to encoder_backward): hidden states in a->hidden. */
int encoder_forward(const struct encoder *e, struct encoder_acts *a, const int32_t *ids,
		    const uint8_t *types, const int32_t *lengths, int B, const struct nn_step *st);
/* Backward from a->dhidden (filled by the caller) into every gradient the
 * network carries. */
void encoder_backward(const struct encoder *e, struct encoder_acts *a, const int32_t *ids,
		      const int32_t *lengths, int B, const struct nn_step *st);

#endif
