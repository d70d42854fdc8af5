/*
 * test_dashboard — the dashboard's files as the daemon serves them, no
 * browser needed: GET / is the page; every file it loads (its <script>,
 * <link>s, and the modules the scripts import, followed transitively) is
 * served under /dashboard/ with its content type, the security headers
 * and an ETag that If-None-Match turns into a 304; nothing refers to
 * another host; other methods are 405 with Allow; unknown files 404; and
 * with API keys the files stay open while /v1 does not. Runs offline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

static struct daemon d;
static char *dir;

/* The value of header name in a raw header block (caller frees), or NULL. */
static char *header(const struct http_resp *r, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = r->headers; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > n && !strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ')
				v++;
			return strndup(v, len - (size_t)(v - p));
		}
		p += len + (eol ? 2 : 0);
	}
	return NULL;
}

static void check_header(const struct http_resp *r, const char *name, const char *want,
			 const char *what)
{
	char *v = header(r, name);

	CHECK_MSG(v && !strcmp(v, want), "%s: %s is %s, expected %s", what, name, v ? v : "(none)",
		  want);
	free(v);
}

static const char *type_of(const char *name)
{
	const char *ext = strrchr(name, '.');

	if (ext && !strcmp(ext, ".js"))
		return "text/javascript; charset=utf-8";
	if (ext && !strcmp(ext, ".css"))
		return "text/css; charset=utf-8";
	if (ext && !strcmp(ext, ".svg"))
		return "image/svg+xml";
	return "text/html; charset=utf-8";
}

/* No URL of another host: "://" only in the SVG namespace name. */
static void check_offline(const struct http_resp *r, const char *what)
{
	static const char ns[] = "http://www.w3.org/2000/svg";

	for (const char *p = strstr(r->body, "://"); p; p = strstr(p + 3, "://")) {
		int is_ns = p - r->body >= 4 && !strncmp(p - 4, ns, sizeof(ns) - 1);
		CHECK_MSG(is_ns, "%s refers to another host: %.60s", what, p - 8 > r->body ? p - 8 : p);
	}
}

struct names {
	char v[64][64];
	int n;
};

static void add_name(struct names *l, const char *s, size_t len)
{
	if (len == 0 || len >= sizeof(l->v[0]) || l->n == 64)
		return;
	for (int i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == len && !strncmp(l->v[i], s, len))
			return;
	memcpy(l->v[l->n], s, len);
	l->v[l->n++][len] = '\0';
}

/* Every "/dashboard/NAME" and every import "./NAME" in a file. */
static void collect(const char *body, struct names *l)
{
	static const char *const marks[] = { "\"/dashboard/", "from './", NULL };

	for (int m = 0; marks[m]; m++)
		for (const char *p = strstr(body, marks[m]); p; p = strstr(p + 1, marks[m])) {
			const char *s = p + strlen(marks[m]);
			add_name(l, s, strcspn(s, "\"'"));
		}
}

static void test_page_and_files(void)
{
	struct names files = { .n = 0 };
	struct http_resp r;
	char path[128], *etag;

	http(&d, "GET", "/", NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	check_header(&r, "Content-Type", "text/html; charset=utf-8", "/");
	check_header(&r, "Cache-Control", "no-cache", "/");
	check_header(&r, "X-Content-Type-Options", "nosniff", "/");
	{
		char *csp = header(&r, "Content-Security-Policy");
		CHECK(csp && strstr(csp, "default-src 'none'") && strstr(csp, "script-src 'self'") &&
		      strstr(csp, "connect-src 'self'"));
		free(csp);
	}
	CHECK(strstr(r.body, "<script type=\"module\" src=\"/dashboard/app.js\">") != NULL);
	CHECK(strstr(r.body, "id=\"main\"") != NULL);
	check_offline(&r, "/");
	collect(r.body, &files);
	http_resp_free(&r);
	CHECK_MSG(files.n >= 3, "index.html loads %d files", files.n);

	/* Follow the imports: every file any file names must be there. */
	for (int i = 0; i < files.n; i++) {
		snprintf(path, sizeof(path), "/dashboard/%s", files.v[i]);
		http(&d, "GET", path, NULL, NULL, 0, &r);
		CHECK_MSG(r.status == 200, "%s: %ld", path, r.status);
		check_header(&r, "Content-Type", type_of(files.v[i]), path);
		check_offline(&r, path);
		collect(r.body, &files);
		http_resp_free(&r);
	}
	CHECK_MSG(files.n >= 10, "only %d files are reachable from the page", files.n);

	/* Revalidation: the ETag gives a 304 with no body; another does not. */
	http(&d, "GET", "/dashboard/app.js", NULL, NULL, 0, &r);
	etag = header(&r, "ETag");
	http_resp_free(&r);
	CHECK(etag && etag[0] == '"');
	{
		char list[256], weak[256];
		const char *cases[][2] = { { list, NULL }, { weak, NULL },
					   { "If-None-Match: *", NULL } };
		snprintf(list, sizeof(list), "If-None-Match: \"other\", %s", etag);
		snprintf(weak, sizeof(weak), "If-None-Match: W/%s", etag);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			http(&d, "GET", "/dashboard/app.js", cases[i], NULL, 0, &r);
			CHECK_MSG(r.status == 304, "%s: %ld", cases[i][0], r.status);
			CHECK_INT_EQ(r.len, 0);
			check_header(&r, "ETag", etag, "304");
			http_resp_free(&r);
		}
	}
	http(&d, "GET", "/dashboard/app.js", (const char *const[]){ "If-None-Match: \"x\"", NULL },
	     NULL, 0, &r);
	CHECK(r.status == 200 && r.len > 0);
	http_resp_free(&r);
	/* The page's ETag is its own. */
	http(&d, "GET", "/", NULL, NULL, 0, &r);
	{
		char *page_etag = header(&r, "ETag");
		CHECK(page_etag && strcmp(page_etag, etag));
		free(page_etag);
	}
	http_resp_free(&r);
	free(etag);

	http(&d, "HEAD", "/", NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(r.len, 0);
	http_resp_free(&r);
}

static void test_errors(void)
{
	static const struct { const char *method, *path; long status; } cases[] = {
		{ "POST", "/", 405 }, { "DELETE", "/", 405 }, { "PUT", "/dashboard/app.js", 405 },
		{ "GET", "/dashboard/nothing.js", 404 }, { "GET", "/dashboard/", 404 },
		{ "GET", "/dashboard", 404 }, { "GET", "/dashboard/app.js/x", 404 },
		{ "GET", "/dashboard/..%2Fapi.h", 404 }, { "GET", "/index.html", 404 },
	};
	struct http_resp r;
	char *etag, inm[256];

	/* A 200 and a 304 of a file, for /metrics below. */
	http(&d, "GET", "/dashboard/app.js", NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	etag = header(&r, "ETag");
	http_resp_free(&r);
	snprintf(inm, sizeof(inm), "If-None-Match: %s", etag ? etag : "\"?\"");
	http(&d, "GET", "/dashboard/app.js", (const char *const[]){ inm, NULL }, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 304);
	http_resp_free(&r);
	free(etag);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *type = cases[i].status == 405 ? "method_not_allowed" : "not_found_error";
		http(&d, cases[i].method, cases[i].path, NULL, NULL, 0, &r);
		CHECK_MSG(r.status == cases[i].status, "%s %s: %ld", cases[i].method, cases[i].path,
			  r.status);
		CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(r.json, "error"),
							       "type")), type);
		if (cases[i].status == 405)
			check_header(&r, "Allow", "GET, HEAD", cases[i].path);
		http_resp_free(&r);
	}
	/* /metrics labels the files by pattern (the requests counted are the
	 * two above, completed nine requests ago). */
	http(&d, "GET", "/metrics", NULL, NULL, 0, &r);
	CHECK(strstr(r.body, "route=\"/dashboard/{name}\",method=\"GET\",status=\"200\"") != NULL);
	CHECK(strstr(r.body, "route=\"/dashboard/{name}\",method=\"GET\",status=\"304\"") != NULL);
	http_resp_free(&r);
}

/* With keys the page and its files need none (the page asks for one);
 * the daemon runs without keys again afterwards. */
static void test_open_with_keys(void)
{
	CHECK_INT_EQ(daemon_restart_with_keys(&d, dir, "dashboard-key\n"), 0);
	CHECK_INT_EQ(http_status(&d, "GET", "/", NULL), 200);
	CHECK_INT_EQ(http_status(&d, "GET", "/dashboard/api.js", NULL), 200);
	CHECK_INT_EQ(http_status(&d, "GET", "/v1/fine_tuning/jobs", NULL), 401);
	CHECK_INT_EQ(daemon_restart(&d, dir, NULL), 0);
}

int main(void)
{
	dir = scratch_dir("dashboard");
	models_create_tiny(dir);
	daemon_start(&d, dir, NULL);
	RUN(test_page_and_files);
	RUN(test_errors);
	RUN(test_open_with_keys);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(dir);
	return check_summary();
}
