/*
 * upload — POST /v1/files: a training file from a multipart form (what the
 * openai SDKs send: fields "file" and "purpose") or a raw body
 * (?purpose=fine-tune&filename=x.jsonl; any Content-Type but multipart:
 * curl's --data-binary default, application/json, none — the content is
 * what is checked).
 *
 * The bytes stream into a temporary file under files_dir as they arrive,
 * so an upload costs no more memory than its network buffers. Once the
 * body is complete the file is checked (ada_data_validate: UTF-8 JSONL,
 * known line shapes, line numbers in errors), fsynced, renamed to its
 * permanent name and the directory fsynced, and only then is the row
 * committed and 200 returned: an acknowledged upload survives a crash.
 *
 * Multipart bodies go through our own parser (multipart.c), whose every
 * callback argument is defined: a part without name= is a 400, not a
 * NULL.
 *
 * The client's filename is metadata. It never becomes part of a path:
 * files are stored under their random id. Names with path separators or
 * control characters are refused all the same, since no honest client
 * sends them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "multipart.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/utf8.h"

struct upload {
	int fd;                         /* the temporary file, -1 once closed */
	char id[STORE_ID_MAX];          /* the new file's id, also its stored name */
	char tmp_path[4096];            /* "" once renamed or removed */
	char filename[STORE_NAME_MAX];
	char purpose[32];
	int have_file, have_purpose;
	uint64_t bytes;
	struct request *r;
	struct multipart *mp;           /* multipart bodies */
	enum { PART_NONE, PART_FILE, PART_PURPOSE } part;   /* the part being read */

/* the first failure, replied when the body ends */
	unsigned fail_status;
	char fail_code[32];
	char fail_param[64];
	char fail_msg[512];
};

static void fail(struct upload *u, unsigned status, const char *code, const char *param,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct upload *u, unsigned status, const char *code, const char *param,
		 const char *fmt, ...)
{
	va_list ap;

	if (u->fail_status)
		return;
	u->fail_status = status;
	snprintf(u->fail_code, sizeof(u->fail_code), "%s", code);
	snprintf(u->fail_param, sizeof(u->fail_param), "%s", param ? param : "");
	va_start(ap, fmt);
	vsnprintf(u->fail_msg, sizeof(u->fail_msg), fmt, ap);
	va_end(ap);
}

/* A display name, not a path: 1..255 bytes of UTF-8, no separators or
 * control characters, not "." or "..". */
static const char *bad_filename(const char *name, size_t len)
{
	if (len == 0)
		return "is empty";
	if (len >= STORE_NAME_MAX)
		return "is longer than 255 bytes";
	if (utf8_validate(name, len) != len || memchr(name, '\0', len))
		return "is not valid UTF-8";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return "contains a control character";
		if (c == '/' || c == '\\')
			return "contains a path separator (send the file's base name)";
	}
	if ((len == 1 && name[0] == '.') || (len == 2 && !memcmp(name, "..", 2)))
		return "is not a file name";
	return NULL;
}

static int set_filename(struct upload *u, const char *name, const char *param)
{
	const char *why = bad_filename(name, strlen(name));

	if (why) {
		fail(u, 400, "invalid_value", param, "the file name %s", why);
		return -1;
	}
	snprintf(u->filename, sizeof(u->filename), "%s", name);
	return 0;
}

static void write_bytes(struct request *r, const char *data, size_t size)
{
	struct upload *u = r->upload;

	if (u->fail_status)
		return;
	u->bytes += size;
	if (u->bytes > r->api->cfg.limits.max_upload) {
		fail(u, 413, "body_too_large", NULL, "the file exceeds the upload limit of %zu bytes",
		     r->api->cfg.limits.max_upload);
		return;
	}
	while (size) {
		ssize_t n = write(u->fd, data, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail(u, errno == ENOSPC ? 503 : 500, "storage_error", NULL,
			     "cannot store the upload: %s", strerror(errno));
			return;
		}
		data += n;
		size -= (size_t)n;
	}
}

/* A printable copy of a client's field name for messages. */
static void field_name(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s", name);
	out[utf8_validate(out, strlen(out))] = '\0';
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void on_part(void *ctx, const char *name, const char *filename, const char *content_type)
{
	struct upload *u = ctx;

	(void)content_type;
	u->part = PART_NONE;
	if (u->fail_status)
		return;   /* keep reading, to answer once the body ends */
	if (!name[0]) {
		fail(u, 400, "invalid_multipart", NULL,
		     "a form part has no name (Content-Disposition: form-data; name=\"file\" or name=\"purpose\")");
		return;
	}
	if (!strcmp(name, "file")) {
		if (u->have_file) {
			fail(u, 400, "invalid_value", "file", "only one file per upload");
			return;
		}
		if (!filename) {
			fail(u, 400, "invalid_value", "file",
			     "the file part needs a filename (Content-Disposition)");
			return;
		}
		if (set_filename(u, filename, "file"))
			return;
		u->have_file = 1;
		u->part = PART_FILE;
		return;
	}
	if (!strcmp(name, "purpose")) {
		if (u->have_purpose) {
			fail(u, 400, "invalid_value", "purpose", "purpose is given twice");
			return;
		}
		u->have_purpose = 1;
		u->purpose[0] = '\0';
		u->part = PART_PURPOSE;
		return;
	}
	{
		char k[48];
		field_name(k, sizeof(k), name);
		fail(u, 400, "unknown_parameter", k, "%s: unknown form field (expected file and purpose)",
		     k);
	}
}

static void on_part_data(void *ctx, const char *data, size_t size)
{
	struct upload *u = ctx;

	if (u->fail_status)
		return;
	if (u->part == PART_FILE) {
		write_bytes(u->r, data, size);
	} else if (u->part == PART_PURPOSE) {
		size_t have = strlen(u->purpose);
		if (have + size >= sizeof(u->purpose) || memchr(data, '\0', size)) {
			fail(u, 400, "invalid_value", "purpose", "purpose must be \"fine-tune\"");
			return;
		}
		memcpy(u->purpose + have, data, size);
		u->purpose[have + size] = '\0';
	}
}

int upload_begin(struct request *r)
{
	struct api *a = r->api;
	const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	struct ada_err err = { 0 };
	struct upload *u;
	char name[STORE_ID_MAX + 8];

	u = calloc(1, sizeof(*u));
	if (!u) {
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		return -1;
	}
	u->fd = -1;
	r->upload = u;
	u->r = r;
	if (ct && !strncasecmp(ct, "multipart/", 10)) {
		struct multipart_cb cb = { .ctx = u, .part = on_part, .data = on_part_data };
		char boundary[MULTIPART_MAX_BOUNDARY + 1];
		if (strncasecmp(ct, "multipart/form-data", 19)) {
			reply_error(r, 415, "unsupported_media_type", NULL,
				    "upload a file as multipart/form-data or as a raw body, not %s", ct);
			return -1;
		}
		if (multipart_boundary(ct, boundary, sizeof(boundary))) {
			reply_error(r, 400, "invalid_multipart", NULL,
				    "multipart/form-data without a usable boundary (1 to 70 characters, RFC 2046)");
			return -1;
		}
		if (!(u->mp = multipart_new(boundary, &cb))) {
			reply_error(r, 500, "out_of_memory", NULL, "out of memory");
			return -1;
		}
	} else {
		const char *purpose = req_arg(r, "purpose"), *filename = req_arg(r, "filename");
		if (!purpose || strcmp(purpose, "fine-tune")) {
			reply_error(r, 400, "invalid_value", "purpose",
				    "purpose must be \"fine-tune\" (?purpose=fine-tune)");
			return -1;
		}
		if (!filename) {
			reply_error(r, 400, "missing_required_parameter", "filename",
				    "a raw upload needs ?filename=NAME");
			return -1;
		}
		if (set_filename(u, filename, "filename")) {
			reply_error(r, u->fail_status, u->fail_code, u->fail_param, "%s", u->fail_msg);
			return -1;
		}
		snprintf(u->purpose, sizeof(u->purpose), "%s", purpose);
		u->have_file = u->have_purpose = 1;
	}
	if (store_new_id("file", u->id, sizeof(u->id), &err)) {
		reply_error(r, 500, "internal_error", NULL, "%s", err.msg);
		return -1;
	}
	snprintf(name, sizeof(name), "tmp-%s", u->id);
	snprintf(u->tmp_path, sizeof(u->tmp_path), "%s/%s", a->files_dir, name);
	u->fd = open(u->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		u->tmp_path[0] = '\0';
		reply_error(r, 500, "storage_error", NULL, "cannot store the upload: %s",
			    strerror(errno));
		return -1;
	}
	return 0;
}

int upload_data(struct request *r, const char *data, size_t size)
{
	struct upload *u = r->upload;

	if (u->mp) {
		if (multipart_feed(u->mp, data, size))
			fail(u, 400, "invalid_multipart", NULL, "%s", multipart_error(u->mp));
	} else {
		write_bytes(r, data, size);
	}
	return u->fail_status ? -1 : 0;
}

/* Check the stored bytes as a training file; fills f's counts and shape
 * (a chat file's first use of tool calling too), and for a classification
 * file *labels (JSON text, the caller's) with its label summary, which job
 * creation compares between files. */
static int validate(struct upload *u, struct store_file *f, char **labels, struct ada_err *err)
{
	struct mapped_file mf;
	struct ada_data_info info;
	json_t *lj = NULL;
	int rc = mapped_file_open(u->tmp_path, &mf, err);

	*labels = NULL;
	if (rc)
		return rc;
	rc = ada_data_validate((const char *)mf.data, mf.size, ADA_DATA_JSONL_ONLY, &info, err);
	if (!rc && (info.shape == ADA_SHAPE_CLASSIFY || info.shape == ADA_SHAPE_CLASSIFY_PAIR)) {
		rc = ada_data_labels((const char *)mf.data, mf.size, &lj, err);
		if (!rc && !(*labels = json_dumps(lj, JSON_COMPACT)))
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		json_decref(lj);
	}
	mapped_file_close(&mf);
	if (rc)
		return ada_err_prefix(err, rc, "%s", u->filename);
	f->line_count = info.line_count;
	f->record_count = info.record_count;
	snprintf(f->format, sizeof(f->format), "%s", ada_data_format_name(info.format));
	snprintf(f->shape, sizeof(f->shape), "%s", ada_data_shape_name(info.shape));
	if (info.tool_line)
		snprintf(f->tool_use, sizeof(f->tool_use), "line %lld: %s",
			 (long long)info.tool_line, info.tool_field);
	return ADA_OK;
}

void upload_finish(struct request *r)
{
	struct api *a = r->api;
	struct upload *u = r->upload;
	struct ada_err err = { 0 };
	struct store_file f = { 0 };
	char final_path[4096], *labels = NULL;
	int rc;

	if (!u)
		return;   /* upload_begin already replied */
	if (u->mp && multipart_finish(u->mp))
		fail(u, 400, "invalid_multipart", NULL, "%s", multipart_error(u->mp));
	if (!u->fail_status && !u->have_file)
		fail(u, 400, "missing_required_parameter", "file", "the form has no file field");
	if (!u->fail_status && !u->have_purpose)
		fail(u, 400, "missing_required_parameter", "purpose",
		     "the form has no purpose field (purpose=fine-tune)");
	if (!u->fail_status && strcmp(u->purpose, "fine-tune"))
		fail(u, 400, "invalid_value", "purpose", "purpose must be \"fine-tune\"");
	if (u->fail_status) {
		reply_error(r, u->fail_status, u->fail_code, u->fail_param, "%s", u->fail_msg);
		return;
	}
	if (fsync(u->fd)) {
		reply_error(r, 500, "storage_error", NULL, "cannot store the upload: %s",
			    strerror(errno));
		return;
	}
	close(u->fd);
	u->fd = -1;
	if ((rc = validate(u, &f, &labels, &err))) {
		if (rc == ADA_EIO || rc == ADA_ENOMEM)
			reply_error(r, 500, "storage_error", NULL, "%s", err.msg);
		else
			reply_error(r, 400, "invalid_file", "file", "%s", err.msg);
		goto out_free;
	}
	snprintf(final_path, sizeof(final_path), "%s/%s", a->files_dir, u->id);
	if (rename(u->tmp_path, final_path)) {
		reply_error(r, 500, "storage_error", NULL, "cannot store the upload: %s",
			    strerror(errno));
		goto out_free;
	}
	u->tmp_path[0] = '\0';
	if ((rc = fsync_dir(a->files_dir, &err))) {
		unlink(final_path);
		reply_error(r, 500, "storage_error", NULL, "%s", err.msg);
		goto out_free;
	}
	snprintf(f.id, sizeof(f.id), "%s", u->id);
	snprintf(f.filename, sizeof(f.filename), "%s", u->filename);
	snprintf(f.purpose, sizeof(f.purpose), "%s", u->purpose);
	snprintf(f.storage, sizeof(f.storage), "%s", u->id);
	f.bytes = (int64_t)u->bytes;
	f.labels = labels;
	if ((rc = store_file_add(a->cfg.store, &f, &err))) {
		unlink(final_path);
		reply_error(r, 500, "storage_error", NULL, "%s", err.msg);
		goto out_free;
	}
	reply_json(r, 200, file_object(&f));
out_free:
	free(labels);
}

void upload_free(struct upload *u)
{
	if (!u)
		return;
	multipart_free(u->mp);
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmp_path[0])
		unlink(u->tmp_path);
	free(u);
}
