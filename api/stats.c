/*
 * stats — HTTP counters for /metrics: requests by route and status, and a
 * latency histogram per route. Lock-free (relaxed atomics): a scrape may
 * see one request counted in one series and not yet in another, which
 * Prometheus tolerates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util/alloc.h"

static const unsigned status_slots[N_STATUS_SLOTS - 1] = {
	200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500,
};

/* Upper bounds of the latency buckets, in seconds; the last is +Inf. */
static const double bucket_le[N_LATENCY_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30,
};

int stats_init(struct api *a)
{
	a->stats = xcalloc((size_t)api_n_routes + 1, sizeof(*a->stats));
	return a->stats ? 0 : -1;
}

void stats_free(struct api *a)
{
	free(a->stats);
	a->stats = NULL;
}

static int status_slot(unsigned status)
{
	for (int i = 0; i < N_STATUS_SLOTS - 1; i++)
		if (status_slots[i] == status)
			return i;
	return N_STATUS_SLOTS - 1;   /* any other */
}

void stats_record(struct api *a, int route_index, unsigned status, uint64_t ns)
{
	struct route_stats *s = &a->stats[route_index < 0 ? api_n_routes : route_index];
	double sec = (double)ns * 1e-9;
	int b = 0;

	while (b < N_LATENCY_BUCKETS - 1 && sec > bucket_le[b])
		b++;
	atomic_fetch_add_explicit(&s->by_status[status_slot(status)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->latency[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->latency_ns_sum, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void stats_render(struct api *a, struct strbuf *out)
{
	strbuf_addf(out,
		    "# HELP adalorad_http_requests_total HTTP requests by route, method and status.\n"
		     "# TYPE adalorad_http_requests_total counter\n");
	for (int i = 0; i <= api_n_routes; i++) {
		const char *route = i < api_n_routes ? api_routes[i].name : "unmatched";
		const char *method = i < api_n_routes ? api_routes[i].method : "any";
		for (int k = 0; k < N_STATUS_SLOTS; k++) {
			uint64_t v = atomic_load_explicit(&a->stats[i].by_status[k],
							  memory_order_relaxed);
			char status[16];
			if (!v)
				continue;
			if (k < N_STATUS_SLOTS - 1)
				snprintf(status, sizeof(status), "%u", status_slots[k]);
			else
				snprintf(status, sizeof(status), "other");
			strbuf_addf(out,
				    "adalorad_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} %llu\n",
				     route, method, status, (unsigned long long)v);
		}
	}
	strbuf_addf(out,
		    "# HELP adalorad_http_request_duration_seconds Time from request headers to the response's completion.\n"
		     "# TYPE adalorad_http_request_duration_seconds histogram\n");
	for (int i = 0; i <= api_n_routes; i++) {
		const char *route = i < api_n_routes ? api_routes[i].name : "unmatched";
		const char *method = i < api_n_routes ? api_routes[i].method : "any";
		uint64_t count = atomic_load_explicit(&a->stats[i].count, memory_order_relaxed);
		uint64_t cum = 0;
		if (!count)
			continue;
		for (int b = 0; b < N_LATENCY_BUCKETS; b++) {
			char le[32];
			cum += atomic_load_explicit(&a->stats[i].latency[b], memory_order_relaxed);
			if (b < N_LATENCY_BUCKETS - 1)
				snprintf(le, sizeof(le), "%g", bucket_le[b]);
			else
				snprintf(le, sizeof(le), "+Inf");
			strbuf_addf(out,
				    "adalorad_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%s\"} %llu\n",
				     route, method, le, (unsigned long long)cum);
		}
		strbuf_addf(out,
			    "adalorad_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n"
			     "adalorad_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
			     route, method,
			     (double)atomic_load_explicit(&a->stats[i].latency_ns_sum,
							  memory_order_relaxed) * 1e-9,
			     route, method, (unsigned long long)count);
	}
}
