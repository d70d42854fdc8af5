/* Until the PostgreSQL backend lands (the next commits). */
#include "backend.h"

#include "util/err.h"

int pg_store_open(const struct store_config *cfg, struct store **out, struct ada_err *err)
{
	*out = NULL;
	return ada_fail(err, ADA_EUNSUPPORTED, "%s: this build has no PostgreSQL backend yet",
			cfg->path);
}
