/*
 * half — IEEE binary16 and bfloat16 to and from float32.
 *
 * Weights arrive as F16 or BF16 from GGUF and safetensors files and are
 * widened to f32 once at load; exporters narrow them again. Conversions are
 * exact for widening; narrowing rounds to nearest even.
 */
#ifndef ADA_UTIL_HALF_H
#define ADA_UTIL_HALF_H

#include <stdint.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline uint16_t f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	if ((u & 0x7fffffffu) > 0x7f800000u)          /* NaN: keep it quiet and a NaN */
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1u);              /* round to nearest even */
	return (uint16_t)(u >> 16);
}

static inline float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;
	uint32_t u;
	float f;

	if (exp == 0) {
		if (man == 0) {
			u = sign;
		} else {                                  /* subnormal: normalise */
			exp = 127 - 15 + 1;
			while (!(man & 0x400u)) {
				man <<= 1;
				exp--;
			}
			man &= 0x3ffu;
			u = sign | (exp << 23) | (man << 13);
		}
	} else if (exp == 31) {
		u = sign | 0x7f800000u | (man << 13);
	} else {
		u = sign | ((exp + 127 - 15) << 23) | (man << 13);
	}
	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline uint16_t f32_to_f16(float f)
{
	uint32_t u, sign, man;
	int32_t exp;

	memcpy(&u, &f, sizeof(u));
	sign = (u >> 16) & 0x8000u;
	exp = (int32_t)((u >> 23) & 0xff);
	man = u & 0x7fffffu;
	if (exp == 0xff)
		return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
	exp = exp - 127 + 15;
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00u);
	if (exp <= 0) {
		if (exp < -10)
			return (uint16_t)sign;
		man |= 0x800000u;
		uint32_t shift = (uint32_t)(14 - exp);
		uint32_t half = man >> shift;
		uint32_t rem = man & ((1u << shift) - 1);
		uint32_t mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (half & 1u)))
			half++;
		return (uint16_t)(sign | half);
	}
	uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13);
	uint32_t rem = man & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
		h++;                                      /* may carry into the exponent: correct */
	return (uint16_t)h;
}

#endif
