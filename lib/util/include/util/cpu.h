/*
 * cpu — what the processor and the operating system let us run: the x86
 * instruction-set extensions the BLAS kernels need (CPUID), each counted
 * only when the OS also saves its registers across context switches
 * (XGETBV: a hypervisor can expose AVX-512 in CPUID and still not enable
 * its state).
 *
 * lib/nn/blas_kernel.c maps this to an OpenBLAS kernel; nothing here knows
 * about BLAS.
 */
#ifndef ADA_UTIL_CPU_H
#define ADA_UTIL_CPU_H

enum cpu_vendor {
	CPU_VENDOR_OTHER = 0,
	CPU_VENDOR_INTEL,
	CPU_VENDOR_AMD,
	CPU_VENDOR_HYGON,     /* AMD Zen designs under another name */
};

struct cpu_features {
	enum cpu_vendor vendor;
	int family, model;     /* CPUID leaf 1, extended fields folded in */
	char brand[49];        /* "AMD EPYC", "Intel(R) Xeon(R) Processor", ... ("" if none) */
	unsigned sse3 : 1, ssse3 : 1, sse41 : 1, sse42 : 1;
	unsigned avx : 1, fma : 1, avx2 : 1;          /* usable: the OS saves YMM */
	unsigned fma4 : 1;                             /* AMD's FMA4 (Bulldozer to Excavator) */
	unsigned avx512f : 1, avx512bw : 1, avx512vl : 1, avx512dq : 1, avx512cd : 1;
	unsigned avx512_bf16 : 1;                      /* usable: the OS saves ZMM and k */
	unsigned amx_tile : 1, amx_bf16 : 1;           /* usable: the OS saves the tiles */
};

/* The running CPU's features (all zero on other architectures). */
void cpu_features_detect(struct cpu_features *f);

#endif
