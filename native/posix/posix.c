/*
 * posix_binding: utimensat(2), futimens(2) and mknod(2) for the local backend,
 * which node:fs cannot call exactly (it passes times as doubles, so
 * nanoseconds are rounded away, takes a negative time as "now", and has no
 * mknod at all). Calls run on the libuv
 * thread pool, as node:fs calls do, and settle a promise; errors look like
 * node:fs errors (code = errno name, errno, syscall, path). detach.c adds the
 * few synchronous calls a background mount makes to leave its terminal.
 */
#include "posix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <node_api.h>
#include <uv.h>

/* The largest integer a JS number holds exactly. */
#define PX_MAX_SAFE	9007199254740992.0

/*
 * Evaluates an N-API call; on failure throws a JS Error (unless one is
 * already pending) and returns NULL from the enclosing napi_callback.
 */
#define PX_CALL(env, call)						\
	do {								\
		if ((call) != napi_ok) {				\
			px_throw_napi_error((env), #call);		\
			return NULL;					\
		}							\
	} while (0)

/*
 * One utimensat, futimens or mknod call. The JS thread fills it and queues it;
 * then only the worker touches it (px_call_execute) until the JS thread
 * settles the promise and frees it (px_call_complete).
 */
struct px_call {
	napi_async_work work;	/* JS thread */
	napi_deferred deferred;	/* JS thread; settled exactly once, in complete */
	const char *syscall;	/* static string, for the error */
	char *path;		/* utimensat: owned copy; futimens: NULL */
	int fd;			/* futimens: the caller keeps it open until we settle */
	int flags;		/* utimensat: 0 or AT_SYMLINK_NOFOLLOW */
	struct timespec ts[2];	/* atime, mtime, as utimensat(2) takes them */
	mode_t mode;		/* mknod: type and permission bits */
	dev_t dev;		/* mknod: the device of a character or block node */
	int err;		/* worker: 0 or the errno of the call */
};

static void px_throw_napi_error(napi_env env, const char *what)
{
	const napi_extended_error_info *info = NULL;
	bool pending = false;
	char msg[256];

	napi_is_exception_pending(env, &pending);
	if (pending)
		return;
	napi_get_last_error_info(env, &info);
	snprintf(msg, sizeof(msg), "%s failed: %s", what,
		 info && info->error_message ? info->error_message : "N-API error");
	napi_throw_error(env, "ERR_POSIX_NAPI", msg);
}

static napi_value px_set_str(napi_env env, napi_value obj, const char *key, const char *s)
{
	napi_value v;

	PX_CALL(env, napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v));
	PX_CALL(env, napi_set_named_property(env, obj, key, v));
	return obj;
}

/*
 * An Error shaped like node:fs's, so that the local backend's toFsError
 * reads it: libuv names the errno exactly as node:fs does, and errno is
 * negative as in node:fs. Returns NULL with an exception pending on failure.
 */
napi_value px_errno_error(napi_env env, int err, const char *syscall, const char *path)
{
	const char *code = uv_err_name(-err);
	const char *text = uv_strerror(-err);
	napi_value code_v, msg_v, error, errno_v;
	size_t len;
	char *msg;

	len = strlen(code) + strlen(text) + strlen(syscall) + (path ? strlen(path) : 0) + 16;
	msg = malloc(len);
	if (msg == NULL) {
		napi_throw_error(env, "ENOMEM", "out of memory");
		return NULL;
	}
	if (path)
		snprintf(msg, len, "%s: %s, %s '%s'", code, text, syscall, path);
	else
		snprintf(msg, len, "%s: %s, %s", code, text, syscall);
	if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok ||
	    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v) != napi_ok) {
		free(msg);
		px_throw_napi_error(env, "napi_create_string_utf8");
		return NULL;
	}
	free(msg);
	PX_CALL(env, napi_create_error(env, code_v, msg_v, &error));
	PX_CALL(env, napi_create_int32(env, -err, &errno_v));
	PX_CALL(env, napi_set_named_property(env, error, "errno", errno_v));
	if (px_set_str(env, error, "syscall", syscall) == NULL)
		return NULL;
	if (path && px_set_str(env, error, "path", path) == NULL)
		return NULL;
	return error;
}

/* An integral JS number within +-2^53; throws a RangeError otherwise. */
static bool px_get_integer(napi_env env, napi_value v, const char *what, int64_t *out)
{
	char msg[96];
	double d;

	if (napi_get_value_double(env, v, &d) != napi_ok) {
		snprintf(msg, sizeof(msg), "%s must be a number", what);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
		return false;
	}
	/* The range check comes first: casting an out-of-range double is undefined. */
	if (!(d >= -PX_MAX_SAFE && d <= PX_MAX_SAFE) || (double) (int64_t) d != d) {
		snprintf(msg, sizeof(msg), "%s must be an integer within +-2^53", what);
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
		return false;
	}
	*out = (int64_t) d;
	return true;
}

/* (sec, nsec) → timespec, with the markers of posix.h; throws on bad input. */
static bool px_get_time(napi_env env, napi_value sec_v, napi_value nsec_v, const char *syscall,
			struct timespec *ts)
{
	int64_t sec, nsec;
	napi_value error;

	if (!px_get_integer(env, nsec_v, "nsec", &nsec))
		return false;
	if (nsec == PX_NSEC_OMIT || nsec == PX_NSEC_NOW) {
		ts->tv_sec = 0;
		ts->tv_nsec = nsec == PX_NSEC_OMIT ? UTIME_OMIT : UTIME_NOW;
		return true;
	}
	if (nsec < 0 || nsec > 999999999) {
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "nsec must be 0..999999999, -1 (omit) or -2 (now)");
		return false;
	}
	if (!px_get_integer(env, sec_v, "sec", &sec))
		return false;
	/* A 32-bit time_t (old 32-bit systems) cannot hold it: say so as the kernel would. */
	if ((int64_t) (time_t) sec != sec) {
		error = px_errno_error(env, EOVERFLOW, syscall, NULL);
		if (error != NULL)
			napi_throw(env, error);
		return false;
	}
	ts->tv_sec = (time_t) sec;
	ts->tv_nsec = (long) nsec;
	return true;
}

static void px_call_execute(napi_env env, void *data)
{
	struct px_call *t = data;
	int r;

	(void) env;
	if (strcmp(t->syscall, "mknod") == 0)
		r = mknod(t->path, t->mode, t->dev);
	else if (t->path != NULL)
		r = utimensat(AT_FDCWD, t->path, t->ts, t->flags);
	else
		r = futimens(t->fd, t->ts);
	t->err = r == 0 ? 0 : errno;
}

static void px_call_complete(napi_env env, napi_status status, void *data)
{
	struct px_call *t = data;
	napi_value result = NULL;

	/* Only napi_cancel_async_work gives a status other than napi_ok, and nothing calls it. */
	if (status != napi_ok && t->err == 0)
		t->err = ECANCELED;
	if (t->err == 0) {
		napi_get_undefined(env, &result);
		napi_resolve_deferred(env, t->deferred, result);
	} else {
		result = px_errno_error(env, t->err, t->syscall, t->path);
		if (result == NULL)
			napi_get_and_clear_last_exception(env, &result);
		napi_reject_deferred(env, t->deferred, result);
	}
	napi_delete_async_work(env, t->work);
	free(t->path);
	free(t);
}

/* Queues `t` and returns its promise; frees `t` and throws on failure. */
static napi_value px_call_queue(napi_env env, struct px_call *t)
{
	napi_value promise, name;

	if (napi_create_string_utf8(env, t->syscall, NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_async_work(env, NULL, name, px_call_execute, px_call_complete, t,
				   &t->work) != napi_ok)
		goto out_free;
	if (napi_create_promise(env, &t->deferred, &promise) != napi_ok)
		goto out_work;
	if (napi_queue_async_work(env, t->work) != napi_ok) {
		/* The deferred cannot be dropped unsettled: reject it, then throw as well. */
		napi_reject_deferred(env, t->deferred, name);
		goto out_work;
	}
	return promise;

out_work:
	napi_delete_async_work(env, t->work);
out_free:
	px_throw_napi_error(env, "queueing the call");
	free(t->path);
	free(t);
	return NULL;
}

/* Reads the four time arguments argv[first..first+3] into t->ts. */
static bool px_get_times(napi_env env, napi_value *argv, size_t first, struct px_call *t)
{
	return px_get_time(env, argv[first], argv[first + 1], t->syscall, &t->ts[0]) &&
	       px_get_time(env, argv[first + 2], argv[first + 3], t->syscall, &t->ts[1]);
}

/*
 * A new call of `syscall` on a copy of the JS string `v` as its path, or NULL with an exception
 * pending: not a string, a NUL inside it (which would cut the path short; node:fs refuses it
 * too), or out of memory.
 */
static struct px_call *px_path_call(napi_env env, napi_value v, const char *syscall)
{
	struct px_call *t;
	size_t len;

	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a string");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL || (t->path = malloc(len + 1)) == NULL) {
		free(t);
		napi_throw_error(env, "ENOMEM", "out of memory");
		return NULL;
	}
	t->syscall = syscall;
	if (napi_get_value_string_utf8(env, v, t->path, len + 1, &len) != napi_ok) {
		px_throw_napi_error(env, "napi_get_value_string_utf8");
		goto out_free;
	}
	if (strlen(t->path) != len) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "path must not contain null bytes");
		goto out_free;
	}
	return t;

out_free:
	free(t->path);
	free(t);
	return NULL;
}

/* utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, noFollow) → Promise<void> */
static napi_value px_utimensat(napi_env env, napi_callback_info info)
{
	napi_value argv[6];
	size_t argc = 6;
	struct px_call *t;
	bool no_follow;

	PX_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 6) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, noFollow)");
		return NULL;
	}
	if (napi_get_value_bool(env, argv[5], &no_follow) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "noFollow must be a boolean");
		return NULL;
	}
	t = px_path_call(env, argv[0], "utimensat");
	if (t == NULL)
		return NULL;
	t->flags = no_follow ? AT_SYMLINK_NOFOLLOW : 0;
	if (!px_get_times(env, argv, 1, t)) {
		free(t->path);
		free(t);
		return NULL;
	}
	return px_call_queue(env, t);
}

/* futimens(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec) → Promise<void> */
static napi_value px_futimens(napi_env env, napi_callback_info info)
{
	napi_value argv[5];
	size_t argc = 5;
	struct px_call *t;
	int32_t fd;

	PX_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 5) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "futimens(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec)");
		return NULL;
	}
	if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd must be a non-negative integer");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		napi_throw_error(env, "ENOMEM", "out of memory");
		return NULL;
	}
	t->syscall = "futimens";
	t->fd = fd;
	if (!px_get_times(env, argv, 1, t)) {
		free(t);
		return NULL;
	}
	return px_call_queue(env, t);
}

/* mknod(path, mode, rdev) → Promise<void>; mode carries the type bits, applied under the process umask. */
static napi_value px_mknod(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	size_t argc = 3;
	struct px_call *t;
	int64_t mode, dev;

	PX_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "mknod(path, mode, rdev)");
		return NULL;
	}
	if (!px_get_integer(env, argv[1], "mode", &mode) || !px_get_integer(env, argv[2], "rdev", &dev))
		return NULL;
	if (mode < 0 || mode > 0177777 || dev < 0) {
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "mode must be 0..0177777 and rdev not negative");
		return NULL;
	}
	t = px_path_call(env, argv[0], "mknod");
	if (t == NULL)
		return NULL;
	t->mode = (mode_t) mode;
	t->dev = (dev_t) dev;
	return px_call_queue(env, t);
}

static napi_value px_init(napi_env env, napi_value exports)
{
	static const struct {
		const char *name;
		napi_callback fn;
	} fns[] = {
		{ "utimensat", px_utimensat },
		{ "futimens", px_futimens },
		{ "mknod", px_mknod },
		{ "dupCloexec", px_dup_cloexec },
		{ "dup2", px_dup2 },
		{ "setsid", px_setsid },
	};
	napi_value fn;
	size_t i;

	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		PX_CALL(env, napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn));
		PX_CALL(env, napi_set_named_property(env, exports, fns[i].name, fn));
	}
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, px_init)
