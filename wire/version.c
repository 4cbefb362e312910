#include "version.h"

const char *
cs_wire_version_string(void)
{
	return "cabsync protocol 1";
}
