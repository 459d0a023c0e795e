/*
 * Error messages and version: mring_strerror() is a superset of strerror()
 * for the library's own codes, generated from the table in mring.h.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <string.h>

#include "mring.h"

const char *mring_strerror(int err)
{
	switch (err) {
#define MRING__CASE(name, val, msg) \
	case MRING_##name:          \
		return msg;
		MRING_ERRNO_MAP(MRING__CASE)
#undef MRING__CASE
	case 0:
		return "success";
	default:
		break;
	}
	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	/* strerrordesc_np is thread-safe and never formats into a buffer. */
	const char *s = strerrordesc_np(err);
	return s ? s : "unknown error";
}

const char *mring_version(void)
{
	return MRING_VERSION_STRING;
}
