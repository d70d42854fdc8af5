/*
 * fuzz — what the libFuzzer harnesses of tests/fuzz share.
 *
 * Each harness fuzz_<name>.c defines LLVMFuzzerTestOneInput (and may
 * define fuzz_setup, run once before the first input). Built with
 * -Dfuzz=true (clang, -fsanitize=fuzzer,address,undefined) it is a
 * libFuzzer binary; in the normal build the same file is linked with
 * replay.c, a main() that runs every file of the directories it is given
 * (tests/fuzz/regressions/<name>, tests/fuzz/seeds/<name>) through it, as
 * a unit test under gcc (and ASan + UBSan in the sanitizer pass).
 *
 * A harness must not crash, leak, trip a sanitizer or an assertion on any
 * input; where the code has a property to keep (an error names its field,
 * an API error object can always be built, a round trip is the identity),
 * the harness checks it with FUZZ_CHECK, which aborts: a finding.
 *
 * Files: loaders read paths, so inputs are written into a scratch
 * directory of the process (under $TMPDIR, removed at exit). Inputs of
 * several files (a Hugging Face directory, a tokenizer with its config)
 * are split at FUZZ_SEP; fuzz_seeds writes its seeds the same way.
 */
#ifndef ADA_TESTS_FUZZ_H
#define ADA_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Once, before the first input (a harness that needs nothing defines it empty). */
void fuzz_setup(void);
/* What every harness gets first (one thread for lib/, then fuzz_setup);
 * libFuzzer calls it through LLVMFuzzerInitialize, replay.c from main. */
void fuzz_init(void);

/* The separator of the files of one input. */
#define FUZZ_SEP "\n--8<--\n"
#define FUZZ_SEP_LEN (sizeof(FUZZ_SEP) - 1)

struct fuzz_part {
	const uint8_t *data;
	size_t size;
};

/* Split data at FUZZ_SEP into at most max parts (the last one takes the
 * rest); returns how many; missing parts are left empty (size 0). */
size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts, size_t max);

/* The scratch directory, and a path in it (one of a few rotating buffers). */
const char *fuzz_dir(void);
const char *fuzz_path(const char *name);
/* Write data to fuzz_path(name), replacing it; returns that path. */
const char *fuzz_write(const char *name, const void *data, size_t size);
/* A fresh, empty subdirectory of the scratch directory; returns its path. */
const char *fuzz_subdir(const char *name);

/* Abort with a message when a property the harness checks does not hold. */
#define FUZZ_CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

/* Every message of an ada_err is one line of valid UTF-8, NUL-terminated
 * within its buffer, and so is param (checked as the API would send it). */
struct ada_err;
void fuzz_check_err(const struct ada_err *err);

#endif
