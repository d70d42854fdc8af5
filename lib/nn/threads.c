/* threads — ada_set_threads(); see adalora.h. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "adalora.h"

void ada_set_threads(int n)
{
#ifdef _OPENMP
	if (n > 0)
		omp_set_num_threads(n);
#else
	(void)n;
#endif
}
