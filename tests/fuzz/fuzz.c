/* fuzz — the harnesses' shared helpers; see fuzz.h. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adalora.h"
#include "util/fileio.h"
#include "util/utf8.h"

static char *scratch;

void fuzz_init(void)
{
	/* before the OpenMP runtime starts: inputs are small, threads only add noise */
	setenv("OMP_NUM_THREADS", "1", 1);
	ada_set_threads(1);
	fuzz_setup();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

static void remove_scratch(void)
{
	if (scratch)
		remove_tree(scratch, NULL);
}

const char *fuzz_dir(void)
{
	if (!scratch) {
		const char *t = getenv("TMPDIR");
		char tmpl[4096];

		snprintf(tmpl, sizeof(tmpl), "%s/adalora-fuzz-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(tmpl)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		scratch = strdup(tmpl);
		if (!scratch)
			abort();
		atexit(remove_scratch);
	}
	return scratch;
}

const char *fuzz_path(const char *name)
{
	static char bufs[8][4400];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", fuzz_dir(), name);
	return b;
}

const char *fuzz_write(const char *name, const void *data, size_t size)
{
	const char *path = fuzz_path(name);
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (size) {
		ssize_t n = write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror(path);
			abort();
		}
		p += n;
		size -= (size_t)n;
	}
	close(fd);
	return path;
}

const char *fuzz_subdir(const char *name)
{
	const char *path = fuzz_path(name);

	remove_tree(path, NULL);
	if (mkdir(path, 0700)) {
		perror(path);
		abort();
	}
	return path;
}

size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < max; i++)
		parts[i] = (struct fuzz_part){ (const uint8_t *)"", 0 };
	while (n < max) {
		const uint8_t *sep = n + 1 < max ? memmem(data, size, FUZZ_SEP, FUZZ_SEP_LEN) : NULL;

		parts[n].data = data;
		parts[n++].size = sep ? (size_t)(sep - data) : size;
		if (!sep)
			break;
		size -= (size_t)(sep - data) + FUZZ_SEP_LEN;
		data = sep + FUZZ_SEP_LEN;
	}
	return n;
}

void fuzz_check_err(const struct ada_err *err)
{
	size_t m = strnlen(err->msg, sizeof(err->msg)), p = strnlen(err->param, sizeof(err->param));

	FUZZ_CHECK(m < sizeof(err->msg) && p < sizeof(err->param), "unterminated error");
	FUZZ_CHECK(m > 0, "an error without a message (code %d)", err->code);
	FUZZ_CHECK(!memchr(err->msg, '\n', m), "a message of several lines: %s", err->msg);
	/* param names a field: the API sends it as a JSON string */
	FUZZ_CHECK(utf8_validate(err->param, p) == p, "param is not UTF-8: %s", err->param);
}
