/*
 * routes — the API's route table and path matching.
 *
 * One table says everything about a route: its method and path, how its
 * body is read, whether it needs a key, and its label in /metrics (the
 * pattern, so ids do not explode the label set). A path that matches a
 * pattern under another method is a 405 with Allow; no match is a 404.
 */
#include <string.h>

#include "http.h"

const struct route api_routes[] = {
	{ "GET", "/healthz", "/healthz", BODY_NONE, 1, h_healthz },
	{ "GET", "/metrics", "/metrics", BODY_NONE, 1, h_metrics },
	{ "GET", "/", "/", BODY_NONE, 1, h_dashboard_index },
	{ "GET", "/dashboard/{}", "/dashboard/{name}", BODY_NONE, 1, h_dashboard_file },
	{ "POST", "/v1/files", "/v1/files", BODY_UPLOAD, 0, upload_finish },
	{ "GET", "/v1/files", "/v1/files", BODY_NONE, 0, h_files_list },
	{ "GET", "/v1/files/{}", "/v1/files/{id}", BODY_NONE, 0, h_files_get },
	{ "DELETE", "/v1/files/{}", "/v1/files/{id}", BODY_NONE, 0, h_files_delete },
	{ "GET", "/v1/files/{}/content", "/v1/files/{id}/content", BODY_NONE, 0,
	  h_files_content },
	{ "GET", "/v1/models", "/v1/models", BODY_NONE, 0, h_models_list },
	{ "GET", "/v1/models/{}", "/v1/models/{id}", BODY_NONE, 0, h_models_get },
	{ "POST", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs", BODY_JSON, 0, h_jobs_create },
	{ "GET", "/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs", BODY_NONE, 0, h_jobs_list },
	{ "GET", "/v1/fine_tuning/jobs/{}", "/v1/fine_tuning/jobs/{id}", BODY_NONE, 0,
	  h_jobs_get },
	{ "POST", "/v1/fine_tuning/jobs/{}/cancel", "/v1/fine_tuning/jobs/{id}/cancel",
	  BODY_NONE, 0, h_jobs_cancel },
	{ "GET", "/v1/fine_tuning/jobs/{}/events", "/v1/fine_tuning/jobs/{id}/events",
	  BODY_NONE, 0, h_jobs_events },
	{ "GET", "/v1/fine_tuning/jobs/{}/checkpoints", "/v1/fine_tuning/jobs/{id}/checkpoints",
	  BODY_NONE, 0, h_jobs_checkpoints },
	{ "GET", "/v1/fine_tuning/jobs/{}/ranks", "/v1/fine_tuning/jobs/{id}/ranks",
	  BODY_NONE, 0, h_jobs_ranks },
	{ "GET", "/v1/fine_tuning/jobs/{}/adapter", "/v1/fine_tuning/jobs/{id}/adapter",
	  BODY_NONE, 0, h_jobs_adapter },
	{ "GET", "/v1/fine_tuning/jobs/{}/adapter/{}",
	  "/v1/fine_tuning/jobs/{id}/adapter/{name}", BODY_NONE, 0, h_jobs_adapter_file },
	{ "POST", "/v1/adalora/schedule", "/v1/adalora/schedule", BODY_JSON, 0, h_schedule },
	{ "POST", "/v1/completions", "/v1/completions", BODY_JSON, 0, h_completions },
	{ "POST", "/v1/chat/completions", "/v1/chat/completions", BODY_JSON, 0, h_chat_completions },
	{ "POST", "/v1/classifications", "/v1/classifications", BODY_JSON, 0, h_classifications },
	{ "POST", "/v1/question_answering", "/v1/question_answering", BODY_JSON, 0,
	  h_question_answering },
	{ "GET", "/v1/daemons", "/v1/daemons", BODY_NONE, 0, h_daemons },
};

const int api_n_routes = (int)(sizeof(api_routes) / sizeof(api_routes[0]));

/* Does path match pattern? Fills params with the "{}" segments. */
static int path_matches(const char *pattern, const char *path,
			char params[ROUTE_PARAMS][STORE_NAME_MAX])
{
	int n = 0;

	while (*pattern && *path) {
		if (*pattern != '/' || *path != '/')
			return 0;
		pattern++;
		path++;
		if (!strncmp(pattern, "{}", 2)) {
			size_t len = strcspn(path, "/");
			if (len == 0 || len >= STORE_NAME_MAX || n == ROUTE_PARAMS)
				return 0;
			memcpy(params[n], path, len);
			params[n++][len] = '\0';
			pattern += 2;
			path += len;
		} else {
			size_t len = strcspn(pattern, "/");
			if (strncmp(pattern, path, len) || (path[len] && path[len] != '/'))
				return 0;
			pattern += len;
			path += len;
		}
	}
	return !*pattern && !*path;
}

int route_match(const char *method, const char *path, char params[ROUTE_PARAMS][STORE_NAME_MAX],
		char *allow, size_t allow_cap)
{
	const char *m = strcmp(method, "HEAD") ? method : "GET";
	char scratch[ROUTE_PARAMS][STORE_NAME_MAX];

	allow[0] = '\0';
	for (int i = 0; i < api_n_routes; i++)
		if (!strcmp(api_routes[i].method, m) &&
		    path_matches(api_routes[i].pattern, path, params))
			return i;
	for (int i = 0; i < api_n_routes; i++) {
		if (!path_matches(api_routes[i].pattern, path, scratch))
			continue;
		if (allow[0])
			strncat(allow, ", ", allow_cap - strlen(allow) - 1);
		strncat(allow, api_routes[i].method, allow_cap - strlen(allow) - 1);
		if (!strcmp(api_routes[i].method, "GET"))
			strncat(allow, ", HEAD", allow_cap - strlen(allow) - 1);
	}
	return -1;
}
