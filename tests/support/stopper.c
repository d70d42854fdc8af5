/* stopper — pause a training at a given step; see stopper.h. */
#include "stopper.h"

#include <string.h>

static void on_metrics(void *ctx, const struct ada_metrics *m)
{
	struct stopper *s = ctx;

	if (s->at >= 0 && m->step == s->at)
		s->flag = ADA_STOP_PAUSE;
}

void stopper_attach(struct stopper *s, struct ada_job *job, int64_t k)
{
	memset(&s->cb, 0, sizeof(s->cb));
	s->cb.ctx = s;
	s->cb.on_metrics = on_metrics;
	s->at = k;
	s->flag = ADA_RUN;
	job->cb = &s->cb;
	job->stop = &s->flag;
}

void stopper_disarm(struct stopper *s)
{
	s->at = -1;
	s->flag = ADA_RUN;
}
