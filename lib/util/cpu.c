/*
 * cpu — cpu_features_detect(); see util/cpu.h.
 *
 * Bits from the Intel SDM (CPUID leaves 1, 7.0, 7.1, 0x80000002-4; XCR0)
 * and AMD's APM, which agree on every bit used here.
 */
#include "util/cpu.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
static unsigned long long xgetbv0(void)
{
	unsigned lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (unsigned long long)hi << 32 | lo;
}

static void brand_string(char *out)
{
	unsigned r[12], max = __get_cpuid_max(0x80000000u, NULL);
	char *s, *e;

	out[0] = '\0';
	if (max < 0x80000004u)
		return;
	for (unsigned i = 0; i < 3; i++)
		__cpuid(0x80000002u + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
	memcpy(out, r, 48);
	out[48] = '\0';
	/* trim the padding CPUs put around the name */
	for (s = out; *s == ' '; s++)
		;
	memmove(out, s, strlen(s) + 1);
	for (e = out + strlen(out); e > out && e[-1] == ' '; e--)
		e[-1] = '\0';
}
#endif

void cpu_features_detect(struct cpu_features *f)
{
	memset(f, 0, sizeof(*f));
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d, max_leaf, vend[3];
	unsigned long long xcr0 = 0;
	int os_ymm, os_zmm, os_tile;

	max_leaf = __get_cpuid_max(0, &vend[0]);
	if (max_leaf < 1)
		return;
	__cpuid(0, a, vend[0], vend[2], vend[1]);   /* "Genu" "ineI" "ntel": ebx, edx, ecx */
	if (!memcmp(vend, "GenuineIntel", 12))
		f->vendor = CPU_VENDOR_INTEL;
	else if (!memcmp(vend, "AuthenticAMD", 12))
		f->vendor = CPU_VENDOR_AMD;
	else if (!memcmp(vend, "HygonGenuine", 12))
		f->vendor = CPU_VENDOR_HYGON;
	brand_string(f->brand);
	if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000001u) {
		__cpuid(0x80000001u, a, b, c, d);
		f->fma4 = (c >> 16) & 1;   /* usable with AVX only: masked below */
	}

	__cpuid(1, a, b, c, d);
	f->family = (int)((a >> 8) & 0xf);
	f->model = (int)((a >> 4) & 0xf);
	if (f->family == 0xf)
		f->family += (int)((a >> 20) & 0xff);
	if (f->family == 0x6 || f->family >= 0xf)
		f->model |= (int)((a >> 16) & 0xf) << 4;
	f->sse3 = (c >> 0) & 1;
	f->ssse3 = (c >> 9) & 1;
	f->sse41 = (c >> 19) & 1;
	f->sse42 = (c >> 20) & 1;
	if ((c >> 27) & 1)   /* OSXSAVE: XGETBV is there */
		xcr0 = xgetbv0();
	os_ymm = (xcr0 & 0x6) == 0x6;                 /* SSE and AVX state */
	os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;     /* opmask, ZMM_Hi256, Hi16_ZMM */
	os_tile = (xcr0 & 0x60000) == 0x60000;        /* XTILECFG, XTILEDATA */
	f->avx = os_ymm && ((c >> 28) & 1);
	f->fma = f->avx && ((c >> 12) & 1);
	f->fma4 = f->fma4 && f->avx;
	if (max_leaf >= 7) {
		unsigned max_sub;

		__cpuid_count(7, 0, a, b, c, d);
		max_sub = a;
		f->avx2 = f->avx && ((b >> 5) & 1);
		if (os_zmm) {
			f->avx512f = (b >> 16) & 1;
			f->avx512dq = (b >> 17) & 1;
			f->avx512cd = (b >> 28) & 1;
			f->avx512bw = (b >> 30) & 1;
			f->avx512vl = (b >> 31) & 1;
		}
		if (os_tile) {
			f->amx_bf16 = (d >> 22) & 1;
			f->amx_tile = (d >> 24) & 1;
		}
		if (max_sub >= 1 && os_zmm) {
			__cpuid_count(7, 1, a, b, c, d);
			f->avx512_bf16 = (a >> 5) & 1;
		}
	}
#endif
}
