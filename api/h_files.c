/* h_files — GET/DELETE /v1/files[/{id}[/content]] (uploads are upload.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "util/err.h"
#include "util/fileio.h"

void h_files_list(struct request *r)
{
	const char *purpose = req_arg(r, "purpose"), *after = req_arg(r, "after");
	struct ada_err err = { 0 };
	struct store_files l;
	json_t *data;
	int limit;

	if (req_limit(r, &limit))
		return;
	if (purpose && strcmp(purpose, "fine-tune")) {
		/* Every file here is a fine-tuning file. */
		reply_json(r, 200, json_pack("{s:s,s:[],s:b}", "object", "list", "data", "has_more",
					     0));
		return;
	}
	if (store_file_list(r->api->cfg.store, after, limit, &l, &err)) {
		reply_ada_err(r, &err, 400);
		return;
	}
	data = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(data, file_object(&l.v[i]));
	reply_json(r, 200, json_pack("{s:s,s:o,s:b}", "object", "list", "data", data, "has_more",
				     l.has_more));
	store_files_release(&l);
}

void h_files_get(struct request *r)
{
	struct ada_err err = { 0 };
	struct store_file f;

	if (store_file_get(r->api->cfg.store, r->params[0], &f, &err)) {
		reply_ada_err(r, &err, 404);
		return;
	}
	reply_json(r, 200, file_object(&f));
}

void h_files_delete(struct request *r)
{
	struct api *a = r->api;
	struct ada_err err = { 0 };
	struct store_file f;
	char path[4096];

	if (store_file_delete(a->cfg.store, r->params[0], &f, &err)) {
		reply_ada_err(r, &err, 404);
		return;
	}
	/* The row is gone (committed): the bytes follow. A crash between the
	 * two leaves an orphan that the daemon sweeps at its next start. */
	snprintf(path, sizeof(path), "%s/%s", a->files_dir, f.storage);
	if (unlink(path) && errno != ENOENT)
		api_log(a, API_LOG_WARN, "msg=\"cannot remove a deleted file\" file=%s errno=%d",
			f.id, errno);
	fsync_dir(a->files_dir, NULL);
	reply_json(r, 200, json_pack("{s:s,s:s,s:b}", "id", f.id, "object", "file", "deleted", 1));
}

/* RFC 5987 filename*: UTF-8, percent-encoded. */
static void disposition(const char *name, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = (size_t)snprintf(out, cap, "attachment; filename*=UTF-8''");

	for (const unsigned char *p = (const unsigned char *)name; *p && n + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
}

void h_files_content(struct request *r)
{
	struct api *a = r->api;
	struct ada_err err = { 0 };
	struct MHD_Response *resp;
	struct store_file f;
	struct stat st;
	char path[4096], cd[3 * STORE_NAME_MAX + 64];
	int fd;

	if (store_file_get(a->cfg.store, r->params[0], &f, &err)) {
		reply_ada_err(r, &err, 404);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", a->files_dir, f.storage);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		reply_error(r, errno == ENOENT ? 404 : 500, "not_found", NULL,
			    "the content of %s is gone", f.id);
		return;
	}
	resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);   /* owns fd */
	if (!resp) {
		close(fd);
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		return;
	}
	disposition(f.filename, cd, sizeof(cd));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd);
	reply_response(r, 200, resp);
}
