/*
 * Tests of chat data: templates recognised by content
 * (tokenizer/chat_template.c), conversations rendered per family and
 * encoded with a loss mask (data/chat.c), packed into windows (data/data.c),
 * and trained (assistant tokens only) through the library's API.
 *
 * The renderings of one fixed conversation (system, user, assistant, user,
 * assistant with weight 0) are written out by hand below from each family's
 * published template (cited at each), with the pieces the loss trains on
 * marked. The models are tiny GGUF files (tests/support/chat_model.h) whose
 * vocabulary is the 256 bytes plus the family's special tokens, so the
 * expected token ids follow from the expected text by hand too: a byte is
 * its own id, a special token its id after the bytes.
 */
#include "check.h"

#include <stdint.h>

#include "chat_model.h"
#include "scratch.h"
#include "data/chat.h"
#include "data/data.h"
#include "data/data_format.h"
#include "net/lm_encoder.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmpdir;

/* ---- published templates (the markers we recognise them by) ------------ */

/* Qwen/Qwen2.5-0.5B-Instruct tokenizer_config.json, abridged: the tools
 * branch shortened, every line that writes a system turn kept as it is. */
static const char qwen25_template[] =
	"{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n"
	"    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n"
	"    {%- else %}\n"
	"        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
	"    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\n...<|im_end|>\\n\" }}\n"
	"{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n"
	"        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
	"    {%- else %}\n"
	"        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
	"    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n"
	"    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n"
	"        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
	"    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n"
	"    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n";

/* HuggingFaceTB/SmolLM2-135M-Instruct tokenizer_config.json */
static const char smollm2_template[] =
	"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
	"{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
	"{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
	"{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/* teknium/OpenHermes-2.5-Mistral-7B: ChatML with no default system turn */
static const char openhermes_template[] =
	"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
	"{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json */
static const char llama3_template[] =
	"{% set loop_messages = messages %}{% for message in loop_messages %}"
	"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
	"{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
	"{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/* meta-llama/Llama-3.2-1B-Instruct tokenizer_config.json, abridged to the
 * system block and the message loop (the tool branches left out). */
static const char llama31_template[] =
	"{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- if strftime_now is defined %}\n"
	"        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n    {%- else %}\n"
	"        {%- set date_string = \"26 Jul 2024\" %}\n    {%- endif %}\n{%- endif %}\n"
	"{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n"
	"    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n"
	"{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
	"{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
	"{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n"
	"        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
	"{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n";

/* meta-llama/Llama-2-7b-chat-hf tokenizer_config.json */
static const char llama2_template[] =
	"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
	"{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
	"{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
	"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
	"{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
	"{% else %}{% set content = message['content'] %}{% endif %}"
	"{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
	"{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

/* mistralai/cookbook concept-deep-dive/tokenization/templates.md, V1 */
static const char mistral_v1_template[] =
	"{{ bos_token }}\n{% for message in messages %}\n"
	"    {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
	"        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n"
	"    {% endif %}\n    {% if message['role'] == 'user' %}\n"
	"        {{ ' [INST] ' + message['content'] + ' [/INST]' }}\n"
	"    {% elif message['role'] == 'assistant' %}\n        {{ ' ' + message['content'] + eos_token }}\n"
	"    {% else %}\n        {{ raise_exception('Only user and assistant roles are supported!') }}\n"
	"    {% endif %}\n{% endfor %}\n";

/* mistralai/Mixtral-8x7B-Instruct-v0.1 tokenizer_config.json (the template
 * most GGUF files of Mistral-7B-Instruct-v0.2 carry too) */
static const char mixtral_template[] =
	"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
	"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
	"{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
	"{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
	"{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

/* mistralai/Mistral-7B-Instruct-v0.1's first tokenizer_config.json */
static const char mistral01_template[] =
	"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
	"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
	"{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
	"{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}"
	"{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

/* mistralai/Mistral-7B-Instruct-v0.3 tokenizer_config.json, abridged (the
 * tool branches left out) */
static const char mistral_v3_template[] =
	"{%- if messages[0][\"role\"] == \"system\" %}\n    {%- set system_message = messages[0][\"content\"] %}\n"
	"    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n"
	"{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message[\"role\"] == \"user\" %}\n"
	"        {%- if loop.last and system_message is defined %}\n"
	"            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n"
	"        {%- else %}\n            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n"
	"    {%- elif message[\"role\"] == \"assistant\" %}\n        {{- \" \" + message[\"content\"]|trim + eos_token}}\n"
	"    {%- endif %}\n{%- endfor %}\n";

/* the cookbook's V3-Tekken (Mistral-Nemo-Instruct-2407) */
static const char tekken_template[] =
	"{{ bos_token }}\n{% for message in messages %}\n    {% if message['role'] == 'user' %}\n"
	"        {{ '[INST]' + message['content'] + '[/INST]' }}\n    {% elif message['role'] == 'assistant' %}\n"
	"        {{ message['content'] + eos_token }}\n    {% endif %}\n{% endfor %}\n";

/* mistralai/Mistral-Nemo-Instruct-2407 tokenizer_config.json, abridged
 * (the tool branches left out) */
static const char nemo_template[] =
	"{%- if messages[0][\"role\"] == \"system\" %}\n    {%- set system_message = messages[0][\"content\"] %}\n"
	"    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n"
	"{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message[\"role\"] == \"user\" %}\n"
	"        {%- if loop.last and system_message is defined %}\n"
	"            {{- \"[INST]\" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n"
	"        {%- else %}\n            {{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n"
	"    {%- elif message[\"role\"] == \"assistant\" %}\n        {{- message[\"content\"] + eos_token}}\n"
	"    {%- endif %}\n{%- endfor %}\n";

/* google/gemma-2b-it tokenizer_config.json */
static const char gemma_template[] =
	"{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
	"{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
	"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
	"{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
	"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
	"{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";

/* google/gemma-3-1b-it tokenizer_config.json, abridged (image items left out) */
static const char gemma3_template[] =
	"{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n"
	"    {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
	"    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n"
	"    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n"
	"    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n"
	"    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
	"    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
	"    {{ message['content'] | trim }}\n    {{ '<end_of_turn>\\n' }}\n{%- endfor -%}\n"
	"{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\\n'}}\n{%- endif -%}\n";

/* microsoft/Phi-3-mini-4k-instruct tokenizer_config.json (2024-07) */
static const char phi3_template[] =
	"{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}"
	"{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
	"{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}"
	"{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";

/* HuggingFaceH4/zephyr-7b-beta tokenizer_config.json */
static const char zephyr_template[] =
	"{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
	"{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
	"{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n"
	"{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

static void test_detect(void)
{
	static const struct { const char *tmpl; const char *family; } cases[] = {
		{ qwen25_template, "chatml" }, { smollm2_template, "chatml" },
		{ openhermes_template, "chatml" }, { chat_model_chatml_template, "chatml" },
		{ llama3_template, "llama3" }, { llama31_template, "llama3.1" },
		{ llama2_template, "llama2" }, { mistral_v1_template, "mistral" },
		{ mixtral_template, "mistral" }, { mistral01_template, "mistral" },
		{ mistral_v3_template, "mistral-v3" }, { tekken_template, "mistral-tekken" },
		{ nemo_template, "mistral-tekken" },
		{ gemma_template, "gemma" }, { gemma3_template, "gemma3" },
		{ phi3_template, "phi3" }, { zephyr_template, "zephyr" },
	};
	/* templates we do not render: Phi-4, Command-R, DeepSeek Coder, Mistral V7 */
	static const char *const unknown[] = {
		"{% for message in messages %}{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>'}}{% endfor %}",
		"{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}",
		"{{'### Instruction:\\n' + message['content'] + '\\n'}}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}",
		"{{ '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}{{ '[INST]' + message['content'] + '[/INST]' }}",
		"Hello {{ name }}",
	};
	struct chat_format f;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = chat_format_detect(cases[i].tmpl, strlen(cases[i].tmpl), &f);

		CHECK_MSG(rc == ADA_OK && !strcmp(chat_family_name(f.family), cases[i].family),
			  "case %zu: %s, expected %s", i, rc ? "not recognised" : chat_family_name(f.family),
			  cases[i].family);
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		CHECK_INT_EQ(chat_format_detect(unknown[i], strlen(unknown[i]), &f), ADA_ENOTFOUND);

	/* the details each published version writes */
	CHECK_OK(chat_format_detect(qwen25_template, strlen(qwen25_template), &f), NULL);
	CHECK(f.has_default_system);
	CHECK_STR_EQ(f.default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
	CHECK_OK(chat_format_detect(smollm2_template, strlen(smollm2_template), &f), NULL);
	CHECK_STR_EQ(f.default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
	CHECK_OK(chat_format_detect(openhermes_template, strlen(openhermes_template), &f), NULL);
	CHECK(!f.has_default_system);

	CHECK_OK(chat_format_detect(mistral_v1_template, strlen(mistral_v1_template), &f), NULL);
	CHECK_STR_EQ(f.inst.open, " [INST] ");
	CHECK_STR_EQ(f.inst.close, " [/INST]");
	CHECK_STR_EQ(f.inst.reply, " ");
	CHECK_INT_EQ(f.inst.system, CHAT_SYSTEM_REFUSED);
	CHECK_OK(chat_format_detect(mixtral_template, strlen(mixtral_template), &f), NULL);
	CHECK_STR_EQ(f.inst.open, "[INST] ");
	CHECK_STR_EQ(f.inst.reply, "");
	CHECK_STR_EQ(f.inst.after, "");
	CHECK_OK(chat_format_detect(mistral01_template, strlen(mistral01_template), &f), NULL);
	CHECK_STR_EQ(f.inst.after, " ");
	CHECK_OK(chat_format_detect(mistral_v3_template, strlen(mistral_v3_template), &f), NULL);
	CHECK_STR_EQ(f.inst.open, "[INST] ");
	CHECK_STR_EQ(f.inst.close, "[/INST]");
	CHECK_STR_EQ(f.inst.reply, " ");
	CHECK_INT_EQ(f.inst.system, CHAT_SYSTEM_LAST_USER);
	CHECK(f.inst.trim_reply);
	CHECK_OK(chat_format_detect(tekken_template, strlen(tekken_template), &f), NULL);
	CHECK_STR_EQ(f.inst.open, "[INST]");
	CHECK_STR_EQ(f.inst.reply, "");
	CHECK_INT_EQ(f.inst.system, CHAT_SYSTEM_REFUSED);
	CHECK_OK(chat_format_detect(nemo_template, strlen(nemo_template), &f), NULL);
	CHECK_STR_EQ(f.inst.close, "[/INST]");
	CHECK_INT_EQ(f.inst.system, CHAT_SYSTEM_LAST_USER);
}

static void test_resolve(void)
{
	struct chat_format f;
	struct ada_err err = { 0 };

	/* no template and no name: the field to set is named */
	CHECK_INT_EQ(chat_format_resolve(NULL, NULL, 0, "m", &f, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "chat_template");
	CHECK(strstr(err.msg, "model m has none") != NULL);
	CHECK_INT_EQ(chat_format_resolve("auto", "Hello {{ x }}", 13, "m", &f, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "chat_template");
	CHECK(strstr(err.msg, "none we render") != NULL);
	CHECK_INT_EQ(chat_format_resolve("jinja", NULL, 0, "m", &f, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "unknown template 'jinja'") != NULL);

	/* a name wins over the model's template ... */
	CHECK_OK(chat_format_resolve("zephyr", llama3_template, strlen(llama3_template), "m", &f, &err),
		 &err);
	CHECK_INT_EQ(f.family, CHAT_ZEPHYR);
	/* ... and takes the template's details when it names its family */
	CHECK_OK(chat_format_resolve("chatml", qwen25_template, strlen(qwen25_template), "m", &f, &err),
		 &err);
	CHECK(f.has_default_system);
	CHECK_OK(chat_format_resolve("chatml", NULL, 0, "m", &f, &err), &err);
	CHECK(!f.has_default_system);
	CHECK_OK(chat_format_resolve("mistral", NULL, 0, "m", &f, &err), &err);
	CHECK_STR_EQ(f.inst.open, " [INST] ");
	CHECK_INT_EQ(f.inst.system, CHAT_SYSTEM_FIRST_USER);
	CHECK_OK(chat_format_resolve(NULL, gemma3_template, strlen(gemma3_template), "m", &f, &err),
		 &err);
	CHECK_INT_EQ(f.family, CHAT_GEMMA3);
}

/* ---- the fixed conversation, per family ---------------------------------- */

static const char conversation[] =
	"{\"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"},"
	"{\"role\": \"user\", \"content\": \"Hi there\"},"
	"{\"role\": \"assistant\", \"content\": \"Hello!\"},"
	"{\"role\": \"user\", \"content\": \"Bye\"},"
	"{\"role\": \"assistant\", \"content\": \"See you\", \"weight\": 0}]}\n";

/* The same without its system message (for templates that refuse one). */
static const char conversation_no_system[] =
	"{\"messages\": [{\"role\": \"user\", \"content\": \"Hi there\"},"
	"{\"role\": \"assistant\", \"content\": \"Hello!\"},"
	"{\"role\": \"user\", \"content\": \"Bye\"},"
	"{\"role\": \"assistant\", \"content\": \"See you\", \"weight\": 0}]}\n";

/* An expected piece: text (one id per byte) or a special token, and whether
 * the loss trains on it. */
struct want {
	const char *s;
	int special;
	int train;
};

#define T(s) { s, 0, 0 }
#define S(s) { s, 1, 0 }
#define TT(s) { s, 0, 1 }
#define ST(s) { s, 1, 1 }
#define END { NULL, 0, 0 }

struct family_case {
	const char *name;                /* what the test calls it */
	const char *tmpl;                /* the model's template */
	const char *const *specials;
	const char *bos, *eos;
	const char *data;                /* the conversation */
	const char *text;                /* the rendering, written out */
	struct want pieces[40];          /* the same, as pieces; END */
};

static const char *const chatml_sp[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>", NULL };
static const char *const llama3_sp[] = { "<|begin_of_text|>", "<|end_of_text|>",
					 "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
					 NULL };
static const char *const llama2_sp[] = { "<s>", "</s>", NULL };
static const char *const v3_sp[] = { "<s>", "</s>", "[INST]", "[/INST]", NULL };
static const char *const gemma_sp[] = { "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>",
					NULL };
static const char *const phi3_sp[] = { "<s>", "<|endoftext|>", "<|system|>", "<|user|>",
				       "<|assistant|>", "<|end|>", NULL };

static const struct family_case families[] = {
	/* Qwen2's template: '<|im_start|>' + role + '\n' + content + '<|im_end|>' + '\n' */
	{ "chatml", chat_model_chatml_template, chatml_sp, NULL, "<|im_end|>", conversation,
	  "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
	  "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
	  "<|im_start|>assistant\nSee you<|im_end|>\n",
	  { S("<|im_start|>"), T("system\nYou are terse."), S("<|im_end|>"), T("\n"),
	    S("<|im_start|>"), T("user\nHi there"), S("<|im_end|>"), T("\n"),
	    S("<|im_start|>"), T("assistant\n"), TT("Hello!"), ST("<|im_end|>"), T("\n"),
	    S("<|im_start|>"), T("user\nBye"), S("<|im_end|>"), T("\n"),
	    S("<|im_start|>"), T("assistant\nSee you"), S("<|im_end|>"), T("\n"), END } },
	/* the same template's default system turn, for a conversation without one */
	{ "chatml (default system)", chat_model_chatml_template, chatml_sp, NULL, "<|im_end|>",
	  conversation_no_system,
	  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
	  "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
	  "<|im_start|>assistant\nSee you<|im_end|>\n",
	  { S("<|im_start|>"), T("system\nYou are a helpful assistant."), S("<|im_end|>"), T("\n"),
	    S("<|im_start|>"), T("user\nHi there"), S("<|im_end|>"), T("\n"),
	    S("<|im_start|>"), T("assistant\n"), TT("Hello!"), ST("<|im_end|>"), T("\n"),
	    S("<|im_start|>"), T("user\nBye"), S("<|im_end|>"), T("\n"),
	    S("<|im_start|>"), T("assistant\nSee you"), S("<|im_end|>"), T("\n"), END } },
	/* Llama 3: bos_token, then '<|start_header_id|>' + role + '<|end_header_id|>\n\n'
	 * + content | trim + '<|eot_id|>' */
	{ "llama3", llama3_template, llama3_sp, "<|begin_of_text|>", "<|eot_id|>", conversation,
	  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
	  "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
	  "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
	  "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
	  "<|start_header_id|>assistant<|end_header_id|>\n\nSee you<|eot_id|>",
	  { S("<|begin_of_text|>"), S("<|start_header_id|>"), T("system"), S("<|end_header_id|>"),
	    T("\n\nYou are terse."), S("<|eot_id|>"),
	    S("<|start_header_id|>"), T("user"), S("<|end_header_id|>"), T("\n\nHi there"), S("<|eot_id|>"),
	    S("<|start_header_id|>"), T("assistant"), S("<|end_header_id|>"), T("\n\n"), TT("Hello!"),
	    ST("<|eot_id|>"),
	    S("<|start_header_id|>"), T("user"), S("<|end_header_id|>"), T("\n\nBye"), S("<|eot_id|>"),
	    S("<|start_header_id|>"), T("assistant"), S("<|end_header_id|>"), T("\n\nSee you"),
	    S("<|eot_id|>"), END } },
	/* Llama 3.1/3.2: the system header always, with the template's fallback date */
	{ "llama3.1", llama31_template, llama3_sp, "<|begin_of_text|>", "<|eot_id|>", conversation,
	  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
	  "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are terse.<|eot_id|>"
	  "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
	  "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
	  "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
	  "<|start_header_id|>assistant<|end_header_id|>\n\nSee you<|eot_id|>",
	  { S("<|begin_of_text|>"), S("<|start_header_id|>"), T("system"), S("<|end_header_id|>"),
	    T("\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are terse."),
	    S("<|eot_id|>"),
	    S("<|start_header_id|>"), T("user"), S("<|end_header_id|>"), T("\n\nHi there"), S("<|eot_id|>"),
	    S("<|start_header_id|>"), T("assistant"), S("<|end_header_id|>"), T("\n\n"), TT("Hello!"),
	    ST("<|eot_id|>"),
	    S("<|start_header_id|>"), T("user"), S("<|end_header_id|>"), T("\n\nBye"), S("<|eot_id|>"),
	    S("<|start_header_id|>"), T("assistant"), S("<|end_header_id|>"), T("\n\nSee you"),
	    S("<|eot_id|>"), END } },
	/* Llama-2-chat: bos_token + '[INST] ' + strip('<<SYS>>\n' + system +
	 * '\n<</SYS>>\n\n' + user) + ' [/INST]'; ' ' + strip(a) + ' ' + eos_token */
	{ "llama2", llama2_template, llama2_sp, "<s>", "</s>", conversation,
	  "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST] Hello! </s>"
	  "<s>[INST] Bye [/INST] See you </s>",
	  { S("<s>"), T("[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST]"),
	    TT(" Hello! "), ST("</s>"), S("<s>"), T("[INST] Bye [/INST] See you "), S("</s>"), END } },
	/* Mistral V1 (the cookbook's): ' [INST] ' + user + ' [/INST]', ' ' + a +
	 * eos_token; mistral-common puts the system prompt before the first user
	 * message (named: the published Jinja raises on one) */
	{ "mistral (named)", NULL, llama2_sp, "<s>", "</s>", conversation,
	  "<s> [INST] You are terse.\n\nHi there [/INST] Hello!</s> [INST] Bye [/INST] See you</s>",
	  { S("<s>"), T(" [INST] You are terse.\n\nHi there [/INST]"), TT(" Hello!"), ST("</s>"),
	    T(" [INST] Bye [/INST] See you"), S("</s>"), END } },
	/* Mixtral-8x7B-Instruct-v0.1: '[INST] ' + user + ' [/INST]', a + eos_token */
	{ "mistral (Mixtral template)", mixtral_template, llama2_sp, "<s>", "</s>",
	  conversation_no_system,
	  "<s>[INST] Hi there [/INST]Hello!</s>[INST] Bye [/INST]See you</s>",
	  { S("<s>"), T("[INST] Hi there [/INST]"), TT("Hello!"), ST("</s>"),
	    T("[INST] Bye [/INST]See you"), S("</s>"), END } },
	/* Mistral-7B-Instruct-v0.1's first template: a + eos_token + ' ' */
	{ "mistral (v0.1 template)", mistral01_template, llama2_sp, "<s>", "</s>",
	  conversation_no_system,
	  "<s>[INST] Hi there [/INST]Hello!</s> [INST] Bye [/INST]See you</s> ",
	  { S("<s>"), T("[INST] Hi there [/INST]"), TT("Hello!"), ST("</s>"),
	    T(" [INST] Bye [/INST]See you"), S("</s>"), T(" "), END } },
	/* V2/V3: '[INST] ' + user + '[/INST]' ([INST] a control token), ' ' + a +
	 * eos_token; the system prompt before the last user message */
	{ "mistral-v3", mistral_v3_template, v3_sp, "<s>", "</s>", conversation,
	  "<s>[INST] Hi there[/INST] Hello!</s>[INST] You are terse.\n\nBye[/INST] See you</s>",
	  { S("<s>"), S("[INST]"), T(" Hi there"), S("[/INST]"), TT(" Hello!"), ST("</s>"),
	    S("[INST]"), T(" You are terse.\n\nBye"), S("[/INST]"), T(" See you"), S("</s>"), END } },
	/* V3-Tekken (Mistral-Nemo's template): '[INST]' + user + '[/INST]', a +
	 * eos_token, the system prompt before the last user message */
	{ "mistral-tekken", nemo_template, v3_sp, "<s>", "</s>", conversation,
	  "<s>[INST]Hi there[/INST]Hello!</s>[INST]You are terse.\n\nBye[/INST]See you</s>",
	  { S("<s>"), S("[INST]"), T("Hi there"), S("[/INST]"), TT("Hello!"), ST("</s>"),
	    S("[INST]"), T("You are terse.\n\nBye"), S("[/INST]"), T("See you"), S("</s>"), END } },
	/* Gemma 1/2: bos_token, '<start_of_turn>' + role + '\n' + content | trim +
	 * '<end_of_turn>\n', the assistant called "model"; no system role */
	{ "gemma", gemma_template, gemma_sp, "<bos>", "<eos>", conversation_no_system,
	  "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
	  "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\nSee you<end_of_turn>\n",
	  { S("<bos>"), S("<start_of_turn>"), T("user\nHi there"), S("<end_of_turn>"), T("\n"),
	    S("<start_of_turn>"), T("model\n"), TT("Hello!"), ST("<end_of_turn>"), T("\n"),
	    S("<start_of_turn>"), T("user\nBye"), S("<end_of_turn>"), T("\n"),
	    S("<start_of_turn>"), T("model\nSee you"), S("<end_of_turn>"), T("\n"), END } },
	/* Gemma 3: the system content + '\n\n' opens the first user turn */
	{ "gemma3", gemma3_template, gemma_sp, "<bos>", "<eos>", conversation,
	  "<bos><start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n"
	  "<start_of_turn>model\nHello!<end_of_turn>\n"
	  "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\nSee you<end_of_turn>\n",
	  { S("<bos>"), S("<start_of_turn>"), T("user\nYou are terse.\n\nHi there"), S("<end_of_turn>"),
	    T("\n"), S("<start_of_turn>"), T("model\n"), TT("Hello!"), ST("<end_of_turn>"), T("\n"),
	    S("<start_of_turn>"), T("user\nBye"), S("<end_of_turn>"), T("\n"),
	    S("<start_of_turn>"), T("model\nSee you"), S("<end_of_turn>"), T("\n"), END } },
	/* Phi-3: '<|role|>\n' + content + '<|end|>\n', then eos_token */
	{ "phi3", phi3_template, phi3_sp, "<s>", "<|endoftext|>", conversation,
	  "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi there<|end|>\n<|assistant|>\nHello!<|end|>\n"
	  "<|user|>\nBye<|end|>\n<|assistant|>\nSee you<|end|>\n<|endoftext|>",
	  { S("<|system|>"), T("\nYou are terse."), S("<|end|>"), T("\n"),
	    S("<|user|>"), T("\nHi there"), S("<|end|>"), T("\n"),
	    S("<|assistant|>"), T("\n"), TT("Hello!"), ST("<|end|>"), T("\n"),
	    S("<|user|>"), T("\nBye"), S("<|end|>"), T("\n"),
	    S("<|assistant|>"), T("\nSee you"), S("<|end|>"), T("\n"), S("<|endoftext|>"), END } },
	/* Zephyr: '<|role|>\n' + content + eos_token, and the newline after each
	 * (its <|user|> ... are text in Zephyr's vocabulary) */
	{ "zephyr", zephyr_template, llama2_sp, "<s>", "</s>", conversation,
	  "<|system|>\nYou are terse.</s>\n<|user|>\nHi there</s>\n<|assistant|>\nHello!</s>\n"
	  "<|user|>\nBye</s>\n<|assistant|>\nSee you</s>\n",
	  { T("<|system|>\nYou are terse."), S("</s>"), T("\n<|user|>\nHi there"), S("</s>"),
	    T("\n<|assistant|>\n"), TT("Hello!"), ST("</s>"), T("\n<|user|>\nBye"), S("</s>"),
	    T("\n<|assistant|>\nSee you"), S("</s>"), T("\n"), END } },
};

struct captured {
	json_t *objs[8];
	int n;
};

static void capture(void *ctx, const json_t *obj)
{
	struct captured *c = ctx;

	if (c->n < 8)
		c->objs[c->n++] = json_deep_copy(obj);
}

static void captured_release(struct captured *c)
{
	for (int i = 0; i < c->n; i++)
		json_decref(c->objs[i]);
	c->n = 0;
}

static const char *write_case_model(const struct family_case *fc, enum chat_vocab vocab, int i)
{
	struct chat_model_opts o = {
		.vocab = vocab, .specials = fc->specials, .bos = fc->bos, .eos = fc->eos,
		.chat_template = fc->tmpl,
	};
	const char *path = scratch_path(tmpdir, "family%d-%d.gguf", i, (int)vocab);
	struct ada_err err = { 0 };

	CHECK_OK(chat_model_write(path, &o, 7, &err), &err);
	return path;
}

static const char *write_text(const char *name, const char *text)
{
	const char *path = scratch_path(tmpdir, "%s", name);
	struct ada_err err = { 0 };

	CHECK_OK(file_write_atomic(path, text, strlen(text), &err), &err);
	return path;
}

/* The expected ids and mask of a case on the byte vocabulary. */
static void expected_tokens(const struct family_case *fc, struct ivec *ids, struct ivec *mask,
			    char *text, size_t cap)
{
	struct chat_model_opts o = { .vocab = CHAT_VOCAB_BYTES, .specials = fc->specials };
	size_t n = 0;

	for (const struct want *w = fc->pieces; w->s; w++) {
		if (w->special) {
			ivec_push(ids, chat_model_special_id(&o, w->s));
			ivec_push(mask, w->train);
		} else {
			for (const char *p = w->s; *p; p++) {
				ivec_push(ids, (unsigned char)*p);
				ivec_push(mask, w->train);
			}
		}
		n += (size_t)snprintf(text + n, cap > n ? cap - n : 0, "%s", w->s);
	}
}

static void test_family_renderings(void)
{
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		const struct family_case *fc = &families[i];
		const char *model = write_case_model(fc, CHAT_VOCAB_BYTES, (int)i);
		const char *data;
		char name[32];
		struct ada_framing fr = { .chat_template = fc->tmpl ? NULL : "mistral",
					  .append_eos = -1 };
		struct ivec ids = { 0 }, mask = { 0 };
		struct captured got = { 0 };
		struct ada_err err = { 0 };
		char pieces_text[1024];
		json_t *o;

		snprintf(name, sizeof(name), "conv%zu.jsonl", i);
		data = write_text(name, fc->data);
		expected_tokens(fc, &ids, &mask, pieces_text, sizeof(pieces_text));
		/* the pieces spell the rendering written out (a check of the test) */
		CHECK_MSG(!strcmp(pieces_text, fc->text), "%s: the pieces spell \"%s\"", fc->name,
			  pieces_text);
		CHECK_OK(ada_render(model, NULL, data, 0, &fr, capture, &got, &err), &err);
		CHECK_MSG(got.n == 1, "%s: %d records rendered", fc->name, got.n);
		if (got.n != 1)
			continue;
		o = got.objs[0];
		CHECK_MSG(!strcmp(json_string_value(json_object_get(o, "text")), fc->text),
			  "%s: rendered \"%s\"", fc->name, json_string_value(json_object_get(o, "text")));
		CHECK_INT_EQ(json_array_size(json_object_get(o, "tokens")), ids.n);
		for (size_t k = 0; k < ids.n && k < json_array_size(json_object_get(o, "tokens")); k++) {
			json_int_t id = json_integer_value(json_array_get(json_object_get(o, "tokens"), k));
			json_int_t m = json_integer_value(json_array_get(json_object_get(o, "mask"), k));

			CHECK_MSG(id == ids.v[k] && m == mask.v[k], "%s: token %zu is %lld (mask %lld), "
				  "expected %d (mask %d)", fc->name, k, (long long)id, (long long)m,
				  ids.v[k], mask.v[k]);
		}
		CHECK_INT_EQ(json_array_size(json_object_get(o, "framing")), 0);
		captured_release(&got);
		ivec_release(&ids);
		ivec_release(&mask);
	}
}

/* Templates that refuse a system message: so do we, naming it. */
static void test_system_refused(void)
{
	static const struct { const char *tmpl; const char *needle; } cases[] = {
		{ gemma_template, "the gemma template has no system role" },
		{ mixtral_template, "the mistral template has no system role" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chat_model_opts o = { .vocab = CHAT_VOCAB_BYTES, .specials = gemma_sp,
					     .bos = "<bos>", .eos = "<eos>", .chat_template = cases[i].tmpl };
		const char *model = scratch_path(tmpdir, "refuse%zu.gguf", i);
		const char *data = write_text("refuse.jsonl", conversation);
		struct captured got = { 0 };
		struct ada_err err = { 0 };

		CHECK_OK(chat_model_write(model, &o, 3, &err), &err);
		CHECK_INT_EQ(ada_render(model, NULL, data, 0, NULL, capture, &got, &err), ADA_EFORMAT);
		CHECK_MSG(strstr(err.msg, "line 1: messages[0]: ") && strstr(err.msg, cases[i].needle),
			  "%s", err.msg);
		captured_release(&got);
	}
}

/* Encoding our way equals tokenizing the whole rendered string with its
 * special tokens parsed (what Hugging Face's apply_chat_template does), on
 * both vocabularies: with SentencePiece's dummy prefix, after BOS and the
 * other special tokens too. */
static void test_same_as_whole_string(void)
{
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		for (int v = 0; v < 2; v++) {
			const struct family_case *fc = &families[i];
			const char *model = write_case_model(fc, (enum chat_vocab)v, (int)i);
			const char *data = write_text("whole.jsonl", fc->data);
			struct ada_framing fr = { .chat_template = fc->tmpl ? NULL : "mistral",
						  .append_eos = -1 };
			struct captured got = { 0 };
			struct tokenizer *t = NULL;
			struct ivec whole = { 0 };
			struct ada_err err = { 0 };
			const json_t *tok;
			const char *text;

			CHECK_OK(ada_render(model, NULL, data, 0, &fr, capture, &got, &err), &err);
			CHECK_OK(tokenizer_load(model, 0, &t, &err), &err);
			if (got.n != 1 || !t) {
				tokenizer_free(t);
				captured_release(&got);
				continue;
			}
			text = json_string_value(json_object_get(got.objs[0], "text"));
			tok = json_object_get(got.objs[0], "tokens");
			CHECK_OK(tokenizer_encode(t, text, strlen(text), TOK_PARSE_SPECIAL, &whole, &err),
				 &err);
			CHECK_INT_EQ(whole.n, json_array_size(tok));
			for (size_t k = 0; k < whole.n && k < json_array_size(tok); k++)
				CHECK_MSG(whole.v[k] == json_integer_value(json_array_get(tok, k)),
					  "%s (vocab %d): token %zu: %d whole, %lld ours", fc->name, v, k,
					  whole.v[k], (long long)json_integer_value(json_array_get(tok, k)));
			ivec_release(&whole);
			tokenizer_free(t);
			captured_release(&got);
		}
	}
}

/* A user who types a special token's spelling gets its characters. */
static void test_content_is_not_special(void)
{
	struct chat_model_opts o;
	const char *model = scratch_path(tmpdir, "plain.gguf");
	const char *data = write_text("typed.jsonl",
		"{\"messages\": [{\"role\": \"user\", \"content\": \"say <|im_end|>\"},"
		"{\"role\": \"assistant\", \"content\": \"<|im_start|>\"}]}\n");
	struct captured got = { 0 };
	struct ada_err err = { 0 };
	int32_t start, end;
	const json_t *tok;
	size_t n_start = 0, n_end = 0;

	chat_model_chatml(&o);
	start = chat_model_special_id(&o, "<|im_start|>");
	end = chat_model_special_id(&o, "<|im_end|>");
	CHECK_OK(chat_model_write(model, &o, 1, &err), &err);
	CHECK_OK(ada_render(model, NULL, data, 0, NULL, capture, &got, &err), &err);
	if (got.n != 1)
		return;
	tok = json_object_get(got.objs[0], "tokens");
	for (size_t k = 0; k < json_array_size(tok); k++) {
		json_int_t id = json_integer_value(json_array_get(tok, k));

		n_start += id == start;
		n_end += id == end;
	}
	/* the default system turn, user, assistant: three of each, the template's */
	CHECK_INT_EQ(n_start, 3);
	CHECK_INT_EQ(n_end, 3);
	CHECK(strstr(json_string_value(json_object_get(got.objs[0], "text")),
		     "user\nsay <|im_end|><|im_end|>") != NULL);
	captured_release(&got);
}

/* ---- tool calling -------------------------------------------------------- */

static void test_tool_calling(void)
{
	static const char tool_line[] =
		"{\"messages\": [{\"role\": \"user\", \"content\": \"q\"},"
		"{\"role\": \"assistant\", \"content\": \"a\"}]}\n"
		"{\"messages\": [{\"role\": \"user\", \"content\": \"weather?\"},"
		"{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\","
		"\"function\": {\"name\": \"w\", \"arguments\": \"{}\"}}]},"
		"{\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"sun\"},"
		"{\"role\": \"assistant\", \"content\": \"Sunny.\"}]}\n";
	static const char tools_key[] =
		"{\"messages\": [{\"role\": \"user\", \"content\": \"q\"},"
		"{\"role\": \"assistant\", \"content\": \"a\"}], \"tools\": [{\"type\": \"function\"}]}\n";
	struct chat_model_opts o;
	struct ada_data_info info;
	struct captured got = { 0 };
	struct ada_err err = { 0 };
	const char *model = scratch_path(tmpdir, "tools.gguf");

	/* valid OpenAI data: the upload takes it and records where */
	CHECK_OK(ada_data_validate(tool_line, strlen(tool_line), ADA_DATA_JSONL_ONLY, &info, &err),
		 &err);
	CHECK_INT_EQ(info.tool_line, 2);
	CHECK_STR_EQ(info.tool_field, "messages[1].tool_calls");
	CHECK_OK(ada_data_validate(tools_key, strlen(tools_key), 0, &info, &err), &err);
	CHECK_INT_EQ(info.tool_line, 1);
	CHECK_STR_EQ(info.tool_field, "tools");
	CHECK_OK(ada_data_validate(conversation, strlen(conversation), 0, &info, &err), &err);
	CHECK_INT_EQ(info.tool_line, 0);

	/* training refuses it, naming the line and the field */
	chat_model_chatml(&o);
	CHECK_OK(chat_model_write(model, &o, 1, &err), &err);
	CHECK_INT_EQ(ada_render(model, NULL, write_text("tools1.jsonl", tool_line), 0, NULL, capture,
				&got, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "line 2: messages[1].tool_calls: tool and function calling is not "
			      "supported yet") != NULL);
	CHECK_INT_EQ(got.n, 1);        /* the first line was fine */
	captured_release(&got);
	CHECK_INT_EQ(ada_render(model, NULL, write_text("tools2.jsonl", tools_key), 0, NULL, capture,
				&got, &err), ADA_EUNSUPPORTED);
	CHECK(strstr(err.msg, "line 1: tools: tool and function calling") != NULL);
	captured_release(&got);
}

/* ---- windows --------------------------------------------------------------- */

/* A toy encoder: a byte is its id, no special tokens but BOS 300, EOS 301,
 * pad 302 (ids the checks below can tell apart). */
static int toy_encode(void *ctx, const char *text, size_t len, unsigned flags,
		      struct ivec *out, struct ada_err *err)
{
	(void)ctx;
	(void)flags;
	(void)err;
	for (size_t i = 0; i < len; i++)
		if (ivec_push(out, (unsigned char)text[i]))
			return ADA_ENOMEM;
	return ADA_OK;
}

static void test_chat_windows(void)
{
	struct chat_format f;
	struct text_encoder enc = { .encode = toy_encode, .bos = 300, .eos = 301, .pad = 302 };
	/* zephyr: "<|user|>\n" q EOS "\n<|assistant|>\n" aaaa EOS "\n" = 9 + 1 + 1 +
	 * 15 + 4 + 1 + 1 = 32 tokens, 5 of them trained (26..30: "aaaa" + EOS) */
	static const char two[] =
		"{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"aaaa\"}]}\n"
		"{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"bbbb\"}]}\n";
	static const char weightless[] =
		"{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"aaaa\", \"weight\": 0}]}\n";
	struct dataset ds;
	struct ada_err err = { 0 };

	chat_format_of_family(CHAT_ZEPHYR, &f);
	enc.chat = &f;

	/* windows of 40: each conversation (32 tokens) fits one; the second does
	 * not fit in what the first leaves, so it starts window 1 */
	CHECK_OK(dataset_load_buffer(two, strlen(two), "c", 40, &enc, &ds, &err), &err);
	CHECK_INT_EQ(ds.n_windows, 2);
	CHECK_INT_EQ(ds.n_targets, 10);
	CHECK_INT_EQ(ds.n_truncated, 0);
	CHECK_INT_EQ(ds.shape, ADA_SHAPE_CHAT);
	if (ds.n_windows == 2) {
		const int32_t *w0 = ds.tokens, *w1 = ds.tokens + 41;

		CHECK_INT_EQ(w0[0], '<');                /* a conversation opens each */
		CHECK_INT_EQ(w1[0], '<');
		CHECK_INT_EQ(w0[31], '\n');             /* its end, then padding */
		CHECK_INT_EQ(w0[32], 302);
		CHECK_INT_EQ(w0[40], '<');               /* the shared token: window 1's first */
		/* targets: "aaaa" and EOS, after "<|assistant|>\n" (mask p: token p + 1) */
		for (int p = 0; p < 40; p++)
			CHECK_INT_EQ(ds.mask[p] != 0, p >= 25 && p <= 29);
		CHECK_INT_EQ(w0[30], 301);
	}
	dataset_release(&ds);

	/* windows of 16: each is cut to 17 tokens, their trained turns with it */
	CHECK_INT_EQ(dataset_load_buffer(two, strlen(two), "c", 16, &enc, &ds, &err), ADA_EFORMAT);
	CHECK(strstr(err.msg, "no tokens to predict") != NULL);
	/* windows of 29: cut to 30 tokens, "aaaa" stays, its EOS goes; the
	 * window between (the first's last token, padding) has no target */
	CHECK_OK(dataset_load_buffer(two, strlen(two), "c", 29, &enc, &ds, &err), &err);
	CHECK_INT_EQ(ds.n_truncated, 2);
	CHECK_INT_EQ(ds.n_windows, 2);
	CHECK_INT_EQ(ds.n_targets, 8);
	dataset_release(&ds);

	/* weight 0 everywhere: nothing to learn */
	CHECK_INT_EQ(dataset_load_buffer(weightless, strlen(weightless), "c", 64, &enc, &ds, &err),
		     ADA_EFORMAT);
	CHECK(strstr(err.msg, "no tokens to predict") != NULL);
}

/* Text framing: EOS appended, or BOS only with the next BOS as the target. */
static void test_text_framing(void)
{
	static const char docs[] = "ab\n\ncd\n";
	struct text_encoder enc = { .encode = toy_encode, .bos = 300, .eos = 301, .pad = 302 };
	struct tok_seq s = { 0 };
	struct data_record rec = { .shape = ADA_SHAPE_TEXT, .text = "ab", .text_len = 2 };
	struct strbuf shown = STRBUF_INIT;
	struct dataset ds;
	struct ada_err err = { 0 };

	/* BOS a b EOS | BOS c d EOS: targets a b EOS c d EOS, framing: the EOSes */
	CHECK_OK(dataset_load_buffer(docs, strlen(docs), "t", 16, &enc, &ds, &err), &err);
	CHECK_INT_EQ(ds.n_targets, 6);
	CHECK_INT_EQ(ds.n_framing, 2);
	CHECK_INT_EQ(ds.mask[2], DATA_TARGET | DATA_FRAMING);     /* token 3: EOS */
	CHECK_INT_EQ(ds.mask[3], 0);                              /* token 4: BOS */
	dataset_release(&ds);

	/* BOS a b | BOS c d: targets a b BOS c d; the second BOS is the framing */
	enc.bos_only = 1;
	CHECK_OK(dataset_load_buffer(docs, strlen(docs), "t", 16, &enc, &ds, &err), &err);
	CHECK_INT_EQ(ds.n_targets, 5);
	CHECK_INT_EQ(ds.n_framing, 1);
	CHECK_INT_EQ(ds.tokens[3], 300);
	CHECK_INT_EQ(ds.mask[2], DATA_TARGET | DATA_FRAMING);
	CHECK_INT_EQ(ds.mask[0], DATA_TARGET);
	dataset_release(&ds);

	CHECK_OK(data_encode_record(&enc, &rec, &s, &shown, &err), &err);
	CHECK_INT_EQ(s.tok.n, 3);
	CHECK(shown.p && !strcmp(shown.p, "<id 300>ab"));
	tok_seq_release(&s);
	strbuf_release(&shown);
}

/* ---- the model's header -------------------------------------------------- */

static void test_probe(void)
{
	struct chat_model_opts o;
	struct ada_model_info info;
	struct ada_err err = { 0 };
	const char *path = scratch_path(tmpdir, "probe.gguf");

	chat_model_chatml(&o);
	CHECK_OK(chat_model_write(path, &o, 1, &err), &err);
	CHECK_OK(ada_model_probe(path, &info, &err), &err);
	CHECK_STR_EQ(info.chat_template, "chatml");
	CHECK_INT_EQ(info.append_eos, 1);

	/* llama2.c's models by name: BOS only */
	o.name = "stories15M";
	o.chat_template = NULL;
	CHECK_OK(chat_model_write(path, &o, 1, &err), &err);
	CHECK_OK(ada_model_probe(path, &info, &err), &err);
	CHECK_STR_EQ(info.chat_template, "");
	CHECK_INT_EQ(info.append_eos, 0);

	o.name = NULL;
	o.chat_template = "{{ messages }}";
	CHECK_OK(chat_model_write(path, &o, 1, &err), &err);
	CHECK_OK(ada_model_probe(path, &info, &err), &err);
	CHECK_STR_EQ(info.chat_template, "unknown");
}

/* tokenizer_config.json's chat_template: a string, a list with "default",
 * or chat_template.jinja beside it. */
static void test_hf_template_files(void)
{
	char *dir = check_tmpdir("hfchat");
	const char *tok = scratch_path(dir, "tokenizer.json");
	const char *cfg = scratch_path(dir, "tokenizer_config.json");
	const char *jinja = scratch_path(dir, "chat_template.jinja");
	struct ada_err err = { 0 };
	char *t = NULL;

	CHECK_OK(chat_template_read_hf(tok, &t, NULL, &err), &err);
	CHECK(t == NULL);
	CHECK_OK(file_write_atomic(jinja, "{{ '<|im_start|>' }}", 20, &err), &err);
	CHECK_OK(chat_template_read_hf(tok, &t, NULL, &err), &err);
	CHECK_STR_EQ(t, "{{ '<|im_start|>' }}");
	free(t);
	CHECK_OK(file_write_atomic(cfg, "{\"chat_template\": \"A\"}", 22, &err), &err);
	CHECK_OK(chat_template_read_hf(tok, &t, NULL, &err), &err);
	CHECK_STR_EQ(t, "A");
	free(t);
	static const char named[] =
		"{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
		"{\"name\": \"default\", \"template\": \"D\"}]}";
	CHECK_OK(file_write_atomic(cfg, named, strlen(named), &err), &err);
	CHECK_OK(chat_template_read_hf(tok, &t, NULL, &err), &err);
	CHECK_STR_EQ(t, "D");
	free(t);
	CHECK_OK(file_write_atomic(cfg, "{", 1, &err), &err);
	CHECK_INT_EQ(chat_template_read_hf(tok, &t, NULL, &err), ADA_EFORMAT);
	free(dir);
}

int main(void)
{
	tmpdir = check_tmpdir("chat");
	RUN(test_detect);
	RUN(test_resolve);
	RUN(test_family_renderings);
	RUN(test_system_refused);
	RUN(test_same_as_whole_string);
	RUN(test_content_is_not_special);
	RUN(test_tool_calling);
	RUN(test_chat_windows);
	RUN(test_text_framing);
	RUN(test_probe);
	RUN(test_hf_template_files);
	free(tmpdir);
	return check_summary();
}
