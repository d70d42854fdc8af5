/* Tests of the tokenizer's Unicode layer and pre-tokenizers in isolation:
 * character classes, NFC, NFD, lowercase, BERT's text rules, GPT-2's byte
 * alphabet, and the hand-written regex scanners on cases where the
 * regexes' backtracking matters. (The
 * scanners were also cross-checked against Python's regex module on random
 * strings while being written; these cases pin the behaviour down.) */
#include "check.h"

#include "tokenizer/internal.h"
#include "tokenizer/unicode.h"
#include "util/err.h"

static void test_classes(void)
{
	CHECK_STR_EQ(ucd_unicode_version(), "14.0.0");
	CHECK_INT_EQ(ucd_class_of('a'), UCD_LETTER);
	CHECK_INT_EQ(ucd_class_of(0x00e9), UCD_LETTER);     /* é */
	CHECK_INT_EQ(ucd_class_of(0x65e5), UCD_LETTER);     /* 日 */
	CHECK_INT_EQ(ucd_class_of(0x02b0), UCD_LETTER);     /* modifier letter (Lm) */
	CHECK_INT_EQ(ucd_class_of('7'), UCD_NUMBER);
	CHECK_INT_EQ(ucd_class_of(0x0663), UCD_NUMBER);     /* Arabic-Indic three (Nd) */
	CHECK_INT_EQ(ucd_class_of(0x00b2), UCD_NUMBER);     /* superscript two (No) */
	CHECK_INT_EQ(ucd_class_of(0x216b), UCD_NUMBER);     /* Roman numeral twelve (Nl) */
	CHECK_INT_EQ(ucd_class_of('\t'), UCD_SPACE);
	CHECK_INT_EQ(ucd_class_of(0x0085), UCD_SPACE);
	CHECK_INT_EQ(ucd_class_of(0x00a0), UCD_SPACE);
	CHECK_INT_EQ(ucd_class_of(0x3000), UCD_SPACE);
	CHECK_INT_EQ(ucd_class_of(0x001c), 0);              /* isspace() yes, White_Space no */
	CHECK_INT_EQ(ucd_class_of(0x200b), 0);              /* zero width space: Cf */
	CHECK_INT_EQ(ucd_class_of(0x0301), 0);              /* combining mark */
	CHECK_INT_EQ(ucd_class_of(0x1f600), 0);             /* emoji */
	CHECK_INT_EQ(ucd_class_of(0x10ffff), 0);
	for (unsigned c = 0; c < 128; c++)
		CHECK_INT_EQ(ucd_class_ascii((unsigned char)c), ucd_class_of(c));
}

static void check_nfc(const char *in, const char *want)
{
	struct strbuf out = { 0 };

	CHECK_INT_EQ(unicode_nfc(in, strlen(in), &out), 0);
	CHECK_MSG(out.n == strlen(want) && !memcmp(out.p, want, out.n), "NFC of '%s'", in);
	strbuf_release(&out);
}

static void test_nfc(void)
{
	check_nfc("plain ascii", "plain ascii");
	check_nfc("cafe\xcc\x81", "caf\xc3\xa9");                   /* e + acute -> é */
	check_nfc("\xe2\x84\xab", "\xc3\x85");                      /* Angstrom sign -> Å */
	check_nfc("e\xcc\x82\xcc\xa3", "\xe1\xbb\x87");            /* marks reordered, ệ */
	check_nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81");  /* jamo -> 각 */
	check_nfc("\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81");     /* LV + T -> LVT */
	check_nfc("\xcc\x81x", "\xcc\x81x");                        /* leading mark stays */
	check_nfc("\xef\xac\x81", "\xef\xac\x81");                  /* ﬁ: compatibility only */
	check_nfc("\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc");      /* excluded from composition */
}

typedef int (*text_fn)(const char *s, size_t len, struct strbuf *out);

static void check_text(text_fn fn, const char *what, const char *in, size_t len,
		       const char *want)
{
	struct strbuf out = { 0 };

	CHECK_INT_EQ(fn(in, len, &out), 0);
	CHECK_MSG(out.n == strlen(want) && (!out.n || !memcmp(out.p, want, out.n)),
		  "%s of '%.*s' gave '%.*s'", what, (int)len, in, (int)out.n, out.p ? out.p : "");
	strbuf_release(&out);
}

#define CHECK_TEXT(fn, in, want) check_text(fn, #fn, in, sizeof(in) - 1, want)

static void test_bert_text(void)
{
	CHECK_TEXT(unicode_nfd, "plain", "plain");
	CHECK_TEXT(unicode_nfd, "caf\xc3\xa9", "cafe\xcc\x81");
	CHECK_TEXT(unicode_nfd, "\xe1\xbb\x87", "e\xcc\xa3\xcc\x82");        /* ệ, marks ordered */
	CHECK_TEXT(unicode_nfd, "\xea\xb0\x81", "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8");
	CHECK_TEXT(unicode_nfd, "\xef\xac\x81", "\xef\xac\x81");             /* ﬁ stays */
	CHECK_TEXT(unicode_nfd, "\xef\xa4\x80", "\xe8\xb1\x88");             /* U+F900 */
	CHECK_TEXT(unicode_lowercase, "HeLLo \xc3\x89\xce\xa3\xce\xa3", "hello \xc3\xa9\xcf\x83\xcf\x83");
	CHECK_TEXT(unicode_lowercase, "\xc4\xb0", "i\xcc\x87");                 /* İ: two */
	CHECK_TEXT(unicode_lowercase, "\xe1\xba\x9e\xe2\x84\xaa", "\xc3\x9fk");  /* ẞ, Kelvin */
	CHECK_TEXT(unicode_strip_marks, "e\xcc\x81\xe0\xa4\x95\xe0\xa4\xbf", "e\xe0\xa4\x95\xe0\xa4\xbf");
	CHECK_TEXT(bert_clean_text, "a\tb\x01\x0b\xc2\x85\xc2\xa0\xe2\x80\x8b\xef\xbf\xbd" "c", "a b c");
	CHECK_TEXT(bert_pad_chinese, "a\xe6\x97\xa5\xe6\x9c\xac" "b\xed\x95\x9c",
		   "a \xe6\x97\xa5  \xe6\x9c\xac " "b\xed\x95\x9c");          /* 日本, not 한 */
	CHECK(ucd_is_punct(0x00ab) && ucd_is_punct(0x3002) && !ucd_is_punct(0xff5e));
	CHECK(bert_is_punct('$') && bert_is_punct('`') && !bert_is_punct('a') &&
	      !bert_is_punct(0x20ac));                                          /* € is Sc */
	CHECK(ucd_is_control(0x00ad) && ucd_is_control(0xe000) && ucd_is_control(0x0085) &&
	      !ucd_is_control(0x0378));                                         /* Cn is not */
	CHECK(ucd_is_nonspacing_mark(0x0301) && !ucd_is_nonspacing_mark(0x0903));  /* Mc */
	CHECK(ucd_is_white_space(0x2028) && !ucd_is_white_space(0x200b));
}

static void test_byte_alphabet(void)
{
	for (int b = 0; b < 256; b++) {
		uint32_t cp = bytelevel_cp((uint8_t)b);
		CHECK_INT_EQ(bytelevel_byte(cp), b);
		CHECK(cp < 0x144);
	}
	CHECK_INT_EQ(bytelevel_cp(' '), 0x120);     /* Ġ */
	CHECK_INT_EQ(bytelevel_cp('\n'), 0x10a);    /* Ċ */
	CHECK_INT_EQ(bytelevel_cp('A'), 'A');
	CHECK_INT_EQ(bytelevel_byte(0x144), -1);
	CHECK_INT_EQ(bytelevel_byte(0x20), -1);
}

struct collected {
	char text[512];
	size_t n;
};

/* Words joined with '|'. */
static int collect(void *arg, const char *w, size_t len, const struct tspan *sp,
		   struct ada_err *err)
{
	struct collected *c = arg;

	(void)err;
	(void)sp;
	if (c->n + len + 2 > sizeof(c->text))
		return ADA_EINVAL;
	if (c->n)
		c->text[c->n++] = '|';
	memcpy(c->text + c->n, w, len);
	c->n += len;
	c->text[c->n] = '\0';
	return ADA_OK;
}

static void check_split(const struct pretok_step *st, const char *in, unsigned flags,
			const char *want)
{
	struct pretok_scratch ps = { 0 };
	struct collected c = { .n = 0 };
	struct ada_err err;

	c.text[0] = '\0';
	CHECK_OK(pretok_run(st, 1, &ps, in, strlen(in), NULL, flags, collect, &c, &err), &err);
	CHECK_MSG(!strcmp(c.text, want), "'%s' -> '%s', want '%s'", in, c.text, want);
	pretok_scratch_release(&ps);
}

static void test_regex_scanners(void)
{
	struct pretok_step gpt2 = { .kind = PRETOK_SPLIT_GPT2 };
	struct pretok_step llama3 = { .kind = PRETOK_SPLIT_LLAMA3 };
	struct pretok_step qwen2 = { .kind = PRETOK_SPLIT_QWEN2 };

	/* \s+(?!\S) leaves the last space to the next word; a run at the end
	 * stays whole; a lone newline is its own word. */
	check_split(&gpt2, "a   b  ", 0, "a|  | b|  ");
	check_split(&gpt2, "Hello\n\nworld", 0, "Hello|\n|\n|world");
	check_split(&gpt2, "I'm 'Re x's", 0, "I|'m| '|Re| x|'s");
	check_split(&gpt2, "abc123 4.5!!", 0, "abc|123| 4|.|5|!!");
	check_split(&gpt2, "caf\xc3\xa9 \xc2\xb2x", 0, "caf\xc3\xa9| \xc2\xb2|x");
	check_split(&llama3, "1234567 I'LL", 0, "123|456|7| I|'LL");
	check_split(&llama3, "(hello) \t\n\n  x", 0, "(hello|)| \t\n\n| | x");
	check_split(&llama3, "!!\r\nok", 0, "!!\r\n|ok");
	check_split(&qwen2, "x12 ", 0, "x|1|2| ");
}

static void test_rewriting_steps(void)
{
	struct pretok_step bl = { .kind = PRETOK_BYTELEVEL, .add_prefix_space = 1, .use_regex = 1 };
	struct pretok_step ms = { .kind = PRETOK_METASPACE, .repl = "_", .repl_len = 1,
				  .prepend = PREPEND_FIRST, .split = 1 };
	struct pretok_step runs = { .kind = PRETOK_SPACE_RUNS, .repl = "_", .repl_len = 1 };

	check_split(&bl, "hi there", 0, "\xc4\xa0hi|\xc4\xa0there");      /* Ġ */
	check_split(&bl, "hi", WORD_NO_PREFIX, "hi");
	check_split(&ms, "a  b", WORD_AT_START, "_a|_|_b");
	check_split(&ms, "a b", 0, "a|_b");                /* not at the start: no prefix */
	check_split(&ms, "a b", WORD_AT_START | WORD_NO_PREFIX, "a|_b");
	check_split(&runs, "__a__b_c", 0, "__a|__b|_c");
}

static void test_bert_pretokenizer(void)
{
	struct pretok_step bert = { .kind = PRETOK_BERT };

	check_split(&bert, "Hello, world!", 0, "Hello|,|world|!");
	check_split(&bert, "  a\t\nb\xc2\xa0" "c  ", 0, "a|b|c");
	check_split(&bert, "it's $5.00", 0, "it|'|s|$|5|.|00");
	check_split(&bert, "\xc2\xabx\xc2\xbb\xe3\x80\x82y\xef\xbd\x9e", 0,
		    "\xc2\xab|x|\xc2\xbb|\xe3\x80\x82|y\xef\xbd\x9e");
	check_split(&bert, "", 0, "");
}

int main(void)
{
	RUN(test_classes);
	RUN(test_nfc);
	RUN(test_bert_text);
	RUN(test_byte_alphabet);
	RUN(test_regex_scanners);
	RUN(test_rewriting_steps);
	RUN(test_bert_pretokenizer);
	return check_summary();
}
