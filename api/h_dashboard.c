/*
 * h_dashboard — serves the web dashboard: GET / is its page, GET
 * /dashboard/NAME its scripts and styles, all from the table compiled
 * into the binary (dashboard.h).
 *
 * The files are open (no API key): they hold no data, and the page has to
 * load before it can ask for a key; every API call the page then makes
 * carries the key. The Content-Security-Policy lets the page load and
 * talk to this daemon only, so nothing comes from other hosts even if a
 * file were to ask for it. Browsers revalidate on every load (no-cache)
 * and get a 304 while the ETag, a digest of the bytes, still matches: a
 * new daemon binary is seen at once, an unchanged one costs no transfer.
 */
#include <string.h>

#include "dashboard.h"
#include "http.h"

static const char csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

static const struct dashboard_asset *asset_find(const char *name)
{
	for (size_t i = 0; i < dashboard_n_assets; i++)
		if (!strcmp(dashboard_assets[i].name, name))
			return &dashboard_assets[i];
	return NULL;
}

/* Does an If-None-Match list ("a", W/"b", *) name etag? */
static int etag_matches(const char *list, const char *etag)
{
	size_t elen = strlen(etag);

	while (list && *list) {
		size_t n;
		list += strspn(list, " \t,");
		if (!strncmp(list, "W/", 2))
			list += 2;
		n = strcspn(list, " \t,");
		if ((n == 1 && list[0] == '*') || (n == elen && !strncmp(list, etag, n)))
			return 1;
		list += n;
	}
	return 0;
}

static void serve(struct request *r, const struct dashboard_asset *f)
{
	int fresh = etag_matches(req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH), f->etag);
	struct MHD_Response *resp;

	/* The table is constant data in the binary: PERSISTENT, no copy. */
	resp = MHD_create_response_from_buffer(fresh ? 0 : f->len, fresh ? NULL : (void *)f->data,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f->etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	reply_response(r, fresh ? 304 : 200, resp);
}

void h_dashboard_index(struct request *r)
{
	const struct dashboard_asset *f = asset_find("index.html");

	if (!f) {
		reply_error(r, 500, "dashboard_missing", NULL,
			    "this adalorad was built without its dashboard");
		return;
	}
	serve(r, f);
}

void h_dashboard_file(struct request *r)
{
	const struct dashboard_asset *f = asset_find(r->params[0]);

	if (!f) {
		reply_error(r, 404, "not_found", NULL, "the dashboard has no file %s",
			    r->params[0]);
		return;
	}
	serve(r, f);
}
