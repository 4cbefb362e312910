#include "err.h"

const char *
cs_strerror(int err)
{
	switch (err) {
	case CS_OK:
		return "success";
	case CS_ENOMEM:
		return "out of memory";
	case CS_EINVAL:
		return "invalid argument";
	case CS_EIO:
		return "input/output error";
	case CS_ENOSPC:
		return "no space left on device";
	case CS_EAGAIN:
		return "more data needed";
	case CS_ERANGE:
		return "value out of range";
	case CS_ENOENT:
		return "not found";
	case CS_EEXIST:
		return "already exists";
	case CS_EPERM:
		return "not permitted";
	case CS_EBUSY:
		return "resource busy";
	case CS_ECORRUPT:
		return "stored data is corrupt";
	case CS_EUNSUPPORTED:
		return "unsupported (newer) format or version";
	default:
		return "unknown error";
	}
}
