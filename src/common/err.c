/*
 * err.c - names for the DM_E* codes.
 *
 * Functions: dm_strerror.
 */
#include "err.h"

const char *
dm_strerror(int code)
{
	switch (code) {
	case DM_OK: return "ok";
	case DM_EINVAL: return "invalid input";
	case DM_EIO: return "i/o error";
	case DM_ENOSPC: return "no space left on device";
	case DM_ELIMIT: return "limit exceeded";
	case DM_EFORMAT: return "malformed input";
	case DM_ETRUNC: return "truncated input";
	case DM_EUNSUPP: return "unsupported";
	case DM_ESTORE: return "store error";
	case DM_EBUSY: return "store busy";
	case DM_ENOTFOUND: return "not found";
	case DM_EEXIST: return "already exists";
	case DM_ESTOP: return "stopped";
	case DM_EUSAGE: return "usage error";
	}
	return "unknown error";
}
