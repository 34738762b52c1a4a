#ifndef PX_POSIX_H
#define PX_POSIX_H

/*
 * How a time crosses from JS (src/backends/local/posix.ts says the same):
 * whole seconds as an integral number (negative before 1970, |sec| <= 2^53,
 * where JS numbers stop being exact) and nanoseconds 0..999999999, or one of
 * these markers in place of the nanoseconds, which makes the seconds unused.
 */
#define PX_NSEC_OMIT	(-1)	/* UTIME_OMIT: leave this time as it is */
#define PX_NSEC_NOW	(-2)	/* UTIME_NOW: the file system's current time */

#include <node_api.h>

/* An Error shaped like node:fs's (code, errno, syscall, path); NULL with an exception pending on failure. */
napi_value px_errno_error(napi_env env, int err, const char *syscall, const char *path);

/* detach.c: what a background mount needs to leave the terminal it was started from. */
napi_value px_dup_cloexec(napi_env env, napi_callback_info info);
napi_value px_dup2(napi_env env, napi_callback_info info);
napi_value px_setsid(napi_env env, napi_callback_info info);

#endif
