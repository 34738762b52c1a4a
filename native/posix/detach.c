/*
 * The calls a background mount needs to become its own daemon in the process
 * the shell started (bin/rmount's launcher): node:fs can open a log but cannot
 * put it on fd 1 and 2, and node:process has no setsid. All are synchronous:
 * each is one system call that does not block, made once at start.
 */
#include "posix.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <node_api.h>

/* The int32 argument `i` of `argc`; throws a TypeError and returns false otherwise. */
static bool px_int_arg(napi_env env, napi_value *argv, size_t argc, size_t i, const char *name, int32_t *out)
{
	napi_valuetype type;

	if (i >= argc || napi_typeof(env, argv[i], &type) != napi_ok || type != napi_number ||
	    napi_get_value_int32(env, argv[i], out) != napi_ok || *out < 0) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", name);
		return false;
	}
	return true;
}

static napi_value px_int_result(napi_env env, int32_t n)
{
	napi_value v;

	if (napi_create_int32(env, n, &v) != napi_ok)
		return NULL;
	return v;
}

static napi_value px_throw_errno(napi_env env, int err, const char *syscall)
{
	napi_value error = px_errno_error(env, err, syscall, NULL);

	if (error != NULL)
		napi_throw(env, error);
	return NULL;
}

/* dupCloexec(fd) → a new descriptor for the same file, closed in children. */
napi_value px_dup_cloexec(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	size_t argc = 1;
	int32_t fd;
	int copy;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || !px_int_arg(env, argv, argc, 0, "dupCloexec(fd)", &fd))
		return NULL;
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		return px_throw_errno(env, errno, "fcntl");
	return px_int_result(env, copy);
}

/* dup2(from, to): `to` now names what `from` names (inherited by children, as fds 0-2 must be). */
napi_value px_dup2(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	size_t argc = 2;
	int32_t from, to;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || !px_int_arg(env, argv, argc, 0, "dup2(from, to)", &from) ||
	    !px_int_arg(env, argv, argc, 1, "dup2(from, to)", &to))
		return NULL;
	while (dup2(from, to) < 0) {
		if (errno != EINTR && errno != EBUSY)
			return px_throw_errno(env, errno, "dup2");
	}
	return NULL;
}

/* setsid() → the new session's id: no controlling terminal, so no SIGHUP when it closes. */
napi_value px_setsid(napi_env env, napi_callback_info info)
{
	pid_t sid;

	(void) info;
	sid = setsid();
	if (sid < 0)
		return px_throw_errno(env, errno, "setsid");
	return px_int_result(env, (int32_t) sid);
}
