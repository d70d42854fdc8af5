/*
 * make_tiny_encoder — write the tests' tiny random BERT (task_data.h's
 * task_make_encoder: config.json, model.safetensors, vocab.txt) to the
 * directory argv[1], and with argv[2] the zebra span task's question
 * answering training file (400 JSONL questions, task_write_qa), for the
 * Node tests (the dashboard's), which cannot call the support library.
 */
#include <stdio.h>

#include "task_data.h"
#include "util/err.h"

int main(int argc, char **argv)
{
	struct ada_err err = { 0 };

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: make_tiny_encoder DIR [QA-TRAIN.jsonl]\n");
		return 2;
	}
	if (task_make_encoder("bert", 5, argv[1], &err) ||
	    (argc > 2 && task_write_qa(argv[2], 400, 1, 0, 0, &err))) {
		fprintf(stderr, "make_tiny_encoder: %s\n", err.msg);
		return 1;
	}
	return 0;
}
