/* Tests of format/gguf.c: the real stories260K file, and damaged copies. */
#include "check.h"

#include "format/gguf.h"
#include "util/err.h"
#include "util/fileio.h"

static const char *assets;

static void test_reads_stories260k(void)
{
	char path[4096];
	struct ada_err err;
	struct gguf *g = NULL;
	uint64_t v;

	snprintf(path, sizeof(path), "%s/models/stories260K/stories260K.gguf", assets);
	CHECK_OK(gguf_open(path, &g, &err), &err);
	if (!g)
		return;
	CHECK_INT_EQ(g->version, 1);
	CHECK(g->n_tensors > 0);
	CHECK_OK(gguf_get_u64(g, "llama.embedding_length", &v, &err), &err);
	CHECK_INT_EQ(v, 64);
	for (uint64_t i = 0; i < g->n_tensors; i++)
		CHECK(g->tensors[i].data != NULL);
	gguf_close(g);
}

/* Every prefix of the file must be refused cleanly (never a crash). */
static void test_truncations_are_errors(void)
{
	char path[4096], *tmp = check_tmpdir("gguf"), out[4200];
	struct mapped_file mf;
	struct ada_err err;
	struct gguf *g;
	size_t cuts[] = { 0, 3, 8, 20, 100, 1000, 5000, 20000 };

	snprintf(path, sizeof(path), "%s/models/stories260K/stories260K.gguf", assets);
	if (mapped_file_open(path, &mf, &err)) {
		CHECK_MSG(0, "%s", err.msg);
		return;
	}
	snprintf(out, sizeof(out), "%s/cut.gguf", tmp);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t n = cuts[i] < mf.size ? cuts[i] : mf.size - 1;
		CHECK_OK(file_write_atomic(out, mf.data, n, &err), &err);
		g = NULL;
		int rc = gguf_open(out, &g, &err);
		CHECK_MSG(rc == ADA_EFORMAT, "cut at %zu: rc %d", n, rc);
		CHECK(strstr(err.msg, "cut.gguf") != NULL);
		gguf_close(g);
	}
	/* The last byte missing: a tensor runs past the end. */
	CHECK_OK(file_write_atomic(out, mf.data, mf.size - 1, &err), &err);
	CHECK_INT_EQ(gguf_open(out, &g, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "tensor") != NULL);
	mapped_file_close(&mf);
	remove_tree(tmp, NULL);
	free(tmp);
}

int main(void)
{
	assets = check_require_assets("test_gguf");
	RUN(test_reads_stories260k);
	RUN(test_truncations_are_errors);
	return check_summary();
}
