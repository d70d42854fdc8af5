/*
 * make_chat_model — write the tests' tiny ChatML model (tests/support
 * chat_model.h: a byte-level vocabulary, <|im_start|> and <|im_end|> as
 * special tokens, Qwen2's chat template) to argv[1], for the Node tests
 * (tests/integration/node), which cannot call the support library.
 */
#include <stdio.h>
#include <stdlib.h>

#include "chat_model.h"

int main(int argc, char **argv)
{
	struct chat_model_opts o;
	struct ada_err err = { 0 };

	if (argc != 3) {
		fprintf(stderr, "usage: make_chat_model OUT.gguf SEED\n");
		return 2;
	}
	chat_model_chatml(&o);
	if (chat_model_write(argv[1], &o, (uint64_t)strtoull(argv[2], NULL, 10), &err)) {
		fprintf(stderr, "make_chat_model: %s\n", err.msg);
		return 1;
	}
	return 0;
}
