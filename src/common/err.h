/*
 * err.h - the one return convention: 0 on success or a negative DM_E*.
 *
 * Functions that can fail return int and are declared DM_WUR so a caller
 * cannot drop the result.  Constructors return a pointer or NULL.
 * dm_strerror() gives a short, stable English phrase for each code.
 */
#ifndef DM_ERR_H
#define DM_ERR_H

#define DM_WUR __attribute__((warn_unused_result))
#define DM_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum {
	DM_OK = 0,
	DM_EINVAL = -1,	   /* bad argument or malformed input */
	DM_EIO = -2,	   /* read/write/fsync failed (errno kept by caller) */
	DM_ENOSPC = -3,	   /* disk full */
	DM_ELIMIT = -4,	   /* an input limit from limits.h was exceeded */
	DM_EFORMAT = -5,   /* input is not what it claims (bad gzip, bad XML) */
	DM_ETRUNC = -6,	   /* input ended early (truncated archive) */
	DM_EUNSUPP = -7,   /* understood but not supported (encrypted zip) */
	DM_ESTORE = -8,	   /* the store failed (SQL error) */
	DM_EBUSY = -9,	   /* the store is locked; retry later */
	DM_ENOTFOUND = -10, /* no such key/row/file */
	DM_EEXIST = -11,   /* already there (duplicate) */
	DM_ESTOP = -12,	   /* a callback asked to stop early; not an error */
	DM_EUSAGE = -13,   /* command line or configuration error */
};

const char *dm_strerror(int code);

#endif
