/*
 * make_tiny_bart — write the tests' tiny random BART (tests/support
 * tiny_bart.h: config.json, model.safetensors, vocab.json + merges.txt) to
 * the directory argv[1], and with argv[2] (and argv[3]) the synthetic
 * reversal task's training (300 lines) and validation (20 lines) files,
 * for the Node tests (the dashboard's), which cannot call the support
 * library.
 */
#include <stdio.h>

#include "tiny_bart.h"
#include "util/err.h"

int main(int argc, char **argv)
{
	struct ada_err err = { 0 };

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: make_tiny_bart DIR [TRAIN.jsonl [VALID.jsonl]]\n");
		return 2;
	}
	if (tiny_make_bart(argv[1], 3, &err) ||
	    (argc > 2 && tiny_write_reverse(argv[2], 300, 3, 6, 8, 1, 0, &err)) ||
	    (argc > 3 && tiny_write_reverse(argv[3], 20, 3, 6, 8, 2, 0, &err))) {
		fprintf(stderr, "make_tiny_bart: %s\n", err.msg);
		return 1;
	}
	return 0;
}
