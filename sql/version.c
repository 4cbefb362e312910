#include "version.h"

#include <sqlite3.h>

const char *
cs_sql_library_version(void)
{
	return sqlite3_libversion();
}
