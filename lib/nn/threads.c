/* threads — ada_set_threads(); see adalora.h. */
#include "adalora.h"
#include "nn/parallel.h"

void ada_set_threads(int n)
{
	if (n > 0)
		nn_set_threads(n);
}
