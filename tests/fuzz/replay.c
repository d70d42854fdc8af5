/*
 * replay — a harness without libFuzzer: runs every file of the directories
 * (or the files) on the command line through LLVMFuzzerTestOneInput, in
 * name order. The normal build links each harness with it and runs it on
 * tests/fuzz/regressions/<harness> (every input that once crashed) and
 * tests/fuzz/seeds/<harness>, so a fixed finding stays fixed under gcc,
 * and under ASan + UBSan in the sanitizer pass.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *g = realloc(buf, cap = cap ? 2 * cap : 65536);
			if (!g)
				abort();
			buf = g;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	fclose(f);
	fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
	/* libFuzzer's copy is exactly size bytes: so is this one */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int runs = 0, bad = 0;

	fuzz_init();
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st)) {
			if (errno == ENOENT)
				continue;   /* no regressions (yet) for this harness */
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i]);
			runs++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		char **names = NULL;
		size_t n = 0;
		if (!d) {
			perror(argv[i]);
			return 1;
		}
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char **g = realloc(names, (n + 1) * sizeof(*names));
			if (!g)
				abort();
			names = g;
			names[n] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
			if (!names[n])
				abort();
			sprintf(names[n++], "%s/%s", argv[i], e->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof(*names), by_name);
		for (size_t k = 0; k < n; k++) {
			bad |= run_file(names[k]);
			runs++;
			free(names[k]);
		}
		free(names);
	}
	fprintf(stderr, "%d inputs replayed\n", runs);
	return bad ? 1 : 0;
}
