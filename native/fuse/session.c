#include "session.h"
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests handled per wake-up before the loop gets the thread back. */
#define FB_BATCH	64
#define FB_DEFAULT_MAX_WRITE	(1024 * 1024)

static const napi_type_tag fb_session_tag = {
	0x726d6f756e742d66ULL, 0x7573652d73657373ULL
};

struct fb_session *fb_session_from(napi_env env, napi_value handle)
{
	bool ok = false;
	void *data = NULL;

	if (napi_check_object_type_tag(env, handle, &fb_session_tag, &ok) != napi_ok || !ok ||
	    napi_get_value_external(env, handle, &data) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a FUSE session handle");
		return NULL;
	}
	return data;
}

/* Calls a JS callback; a throw becomes an uncaught exception, as in node. */
static int fb_call(struct fb_session *s, napi_ref ref, size_t argc, napi_value *argv)
{
	napi_value fn, recv, result, error;

	if (!s->js_allowed || !ref)
		return -1;
	if (napi_get_reference_value(s->env, ref, &fn) != napi_ok ||
	    napi_get_undefined(s->env, &recv) != napi_ok)
		return -1;
	if (napi_call_function(s->env, recv, fn, argc, argv, &result) == napi_ok)
		return 0;
	if (napi_get_and_clear_last_exception(s->env, &error) == napi_ok)
		napi_fatal_exception(s->env, error);
	return -1;
}

static int fb_make_ctx(struct fb_session *s, fuse_req_t req, napi_value *out)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	napi_value uid, gid, pid, umask;

	if (napi_create_object(s->env, out) != napi_ok ||
	    napi_create_uint32(s->env, c->uid, &uid) != napi_ok ||
	    napi_create_uint32(s->env, c->gid, &gid) != napi_ok ||
	    napi_create_int32(s->env, c->pid, &pid) != napi_ok ||
	    napi_create_uint32(s->env, c->umask, &umask) != napi_ok ||
	    napi_set_named_property(s->env, *out, "uid", uid) != napi_ok ||
	    napi_set_named_property(s->env, *out, "gid", gid) != napi_ok ||
	    napi_set_named_property(s->env, *out, "pid", pid) != napi_ok ||
	    napi_set_named_property(s->env, *out, "umask", umask) != napi_ok)
		return -1;
	return 0;
}

/* Answers EIO unless JS already answered; used when handing a request to JS failed. */
void fb_session_reply_eio(struct fb_session *s, double id)
{
	struct fb_req_slot *slot = fb_req_find(&s->reqs, id);

	if (slot)
		fuse_reply_err(fb_req_release(&s->reqs, slot), EIO);
}

/* Registers `req` and calls request(op, id, ctx, ...args). */
void fb_session_emit(struct fb_session *s, fuse_req_t req, enum fb_op op,
		     size_t size, struct fb_args *a)
{
	napi_value argv[3 + sizeof(a->v) / sizeof(a->v[0])];
	double id;

	if (a->failed || !s->js_allowed) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (fb_req_register(&s->reqs, req, op, size, &id) != 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (napi_create_string_utf8(s->env, fb_op_name(op), NAPI_AUTO_LENGTH, &argv[0]) != napi_ok ||
	    napi_create_double(s->env, id, &argv[1]) != napi_ok ||
	    fb_make_ctx(s, req, &argv[2]) != 0)
		goto out_eio;
	memcpy(&argv[3], a->v, a->n * sizeof(napi_value));
	if (fb_call(s, s->cb_request, 3 + a->n, argv) != 0)
		goto out_eio;
	return;

out_eio:
	fb_session_reply_eio(s, id);
}

/* forget and destroy: JS is told, nothing waits for an answer. */
void fb_session_emit_noreply(struct fb_session *s, const char *op, struct fb_args *a)
{
	napi_value argv[3 + sizeof(a->v) / sizeof(a->v[0])];

	if (a->failed ||
	    napi_create_string_utf8(s->env, op, NAPI_AUTO_LENGTH, &argv[0]) != napi_ok ||
	    napi_create_double(s->env, 0, &argv[1]) != napi_ok ||
	    napi_get_undefined(s->env, &argv[2]) != napi_ok)
		return;
	memcpy(&argv[3], a->v, a->n * sizeof(napi_value));
	fb_call(s, s->cb_request, 3 + a->n, argv);
}

static const struct {
	unsigned bit;
	const char *name;
} fb_caps[] = {
	{ FUSE_CAP_ASYNC_READ, "async_read" },
	{ FUSE_CAP_POSIX_LOCKS, "posix_locks" },
	{ FUSE_CAP_ATOMIC_O_TRUNC, "atomic_o_trunc" },
	{ FUSE_CAP_EXPORT_SUPPORT, "export_support" },
	{ FUSE_CAP_DONT_MASK, "dont_mask" },
	{ FUSE_CAP_SPLICE_WRITE, "splice_write" },
	{ FUSE_CAP_SPLICE_MOVE, "splice_move" },
	{ FUSE_CAP_SPLICE_READ, "splice_read" },
	{ FUSE_CAP_FLOCK_LOCKS, "flock_locks" },
	{ FUSE_CAP_IOCTL_DIR, "ioctl_dir" },
	{ FUSE_CAP_AUTO_INVAL_DATA, "auto_inval_data" },
	{ FUSE_CAP_READDIRPLUS, "readdirplus" },
	{ FUSE_CAP_READDIRPLUS_AUTO, "readdirplus_auto" },
	{ FUSE_CAP_ASYNC_DIO, "async_dio" },
	{ FUSE_CAP_WRITEBACK_CACHE, "writeback_cache" },
	{ FUSE_CAP_NO_OPEN_SUPPORT, "no_open_support" },
	{ FUSE_CAP_PARALLEL_DIROPS, "parallel_dirops" },
	{ FUSE_CAP_POSIX_ACL, "posix_acl" },
	{ FUSE_CAP_HANDLE_KILLPRIV, "handle_killpriv" },
	{ FUSE_CAP_CACHE_SYMLINKS, "cache_symlinks" },
	{ FUSE_CAP_NO_OPENDIR_SUPPORT, "no_opendir_support" },
	{ FUSE_CAP_EXPLICIT_INVAL_DATA, "explicit_inval_data" },
	{ FUSE_CAP_EXPIRE_ONLY, "expire_only" },
};

static int fb_set_num(napi_env env, napi_value obj, const char *key, double d)
{
	napi_value v;

	if (napi_create_double(env, d, &v) != napi_ok ||
	    napi_set_named_property(env, obj, key, v) != napi_ok)
		return -1;
	return 0;
}

/*
 * Runs after process_buf has finished the INIT request, so that the values
 * are the ones libfuse sent (it clamps max_write to its buffer after init).
 */
static void fb_tell_init(struct fb_session *s)
{
	struct fuse_conn_info *c = s->conn;
	napi_value info, caps, name;
	uint32_t i, n = 0;

	s->init_pending = false;
	if (napi_create_object(s->env, &info) != napi_ok ||
	    fb_set_num(s->env, info, "protoMajor", c->proto_major) != 0 ||
	    fb_set_num(s->env, info, "protoMinor", c->proto_minor) != 0 ||
	    fb_set_num(s->env, info, "maxWrite", c->max_write) != 0 ||
	    fb_set_num(s->env, info, "maxRead", c->max_read) != 0 ||
	    fb_set_num(s->env, info, "maxReadahead", c->max_readahead) != 0 ||
	    napi_create_array(s->env, &caps) != napi_ok)
		return;
	for (i = 0; i < sizeof(fb_caps) / sizeof(fb_caps[0]); i++) {
		if (!(c->want & fb_caps[i].bit))
			continue;
		if (napi_create_string_utf8(s->env, fb_caps[i].name, NAPI_AUTO_LENGTH, &name) != napi_ok ||
		    napi_set_element(s->env, caps, n++, name) != napi_ok)
			return;
	}
	if (napi_set_named_property(s->env, info, "capabilities", caps) != napi_ok)
		return;
	fb_call(s, s->cb_init, 1, &info);
}

static void fb_free_handle(uv_handle_t *h)
{
	free(h);
}

static void fb_poll_stop(struct fb_session *s)
{
	if (!s->poll)
		return;
	uv_poll_stop(s->poll);
	uv_close((uv_handle_t *) s->poll, fb_free_handle);
	s->poll = NULL;
}

/* The kernel side is gone (fusermount -u, umount -l, abort): stop reading. */
static void fb_gone(struct fb_session *s)
{
	fb_poll_stop(s);
	if (s->state != FB_MOUNTED)
		return;
	s->state = FB_GONE;
	fb_call(s, s->cb_closed, 0, NULL);
}

struct fb_init_watch *fb_session_init_watch(void *userdata)
{
	return &((struct fb_session *) userdata)->init_watch;
}

static void fb_process_one(struct fb_session *s)
{
	napi_handle_scope scope;

	if (napi_open_handle_scope(s->env, &scope) != napi_ok)
		return;
	fuse_session_process_buf(s->se, &s->buf);
	if (s->init_pending)
		fb_tell_init(s);
	napi_close_handle_scope(s->env, scope);
}

/*
 * Readable /dev/fuse: read and process requests until -EAGAIN. The op
 * callbacks run here, on the JS thread, inside one callback scope, so the
 * promises they start settle (and reply) once the scope closes.
 */
static void fb_on_poll(uv_poll_t *h, int status, int events)
{
	struct fb_session *s = h->data;
	napi_env env = s->env;
	napi_handle_scope scope;
	napi_callback_scope cscope;
	napi_value resource;
	bool gone = status < 0;
	int res, n;

	(void) events;
	if (napi_open_handle_scope(env, &scope) != napi_ok)
		return;
	if (napi_create_object(env, &resource) != napi_ok ||
	    napi_open_callback_scope(env, resource, s->async_ctx, &cscope) != napi_ok)
		goto out_scope;
	s->dispatching = true;
	for (n = 0; !gone && n < FB_BATCH; ) {
		res = fuse_session_receive_buf(s->se, &s->buf);
		if (res == -EINTR)
			continue;
		if (res == -EAGAIN)
			break;
		/* 0: ENODEV (unmounted) or the session exited; < 0: a broken device. */
		if (res <= 0 || fuse_session_exited(s->se)) {
			gone = true;
			break;
		}
		fb_process_one(s);
		n++;
	}
	s->dispatching = false;
	if (gone)
		fb_gone(s);
	napi_close_callback_scope(env, cscope);
out_scope:
	napi_close_handle_scope(env, scope);
}

static void fb_on_notified(void *ctx, double ticket, int result)
{
	struct fb_session *s = ctx;
	napi_handle_scope scope;
	napi_callback_scope cscope;
	napi_value resource, argv[2];

	if (!s->js_allowed || napi_open_handle_scope(s->env, &scope) != napi_ok)
		return;
	if (napi_create_object(s->env, &resource) == napi_ok &&
	    napi_open_callback_scope(s->env, resource, s->async_ctx, &cscope) == napi_ok) {
		if (napi_create_double(s->env, ticket, &argv[0]) == napi_ok &&
		    napi_create_int32(s->env, result, &argv[1]) == napi_ok)
			fb_call(s, s->cb_notified, 2, argv);
		napi_close_callback_scope(s->env, cscope);
	}
	napi_close_handle_scope(s->env, scope);
}

static void fb_unref(napi_env env, napi_ref *ref)
{
	if (*ref)
		napi_delete_reference(env, *ref);
	*ref = NULL;
}

/*
 * Unmounts and destroys. Order matters: stop reading, join the notifier
 * (it writes to the fd), unmount (closes the fd), free the requests the
 * kernel has already failed, then destroy (which may call JS destroy).
 */
static void fb_close(struct fb_session *s)
{
	if (s->state == FB_CLOSED)
		return;
	fb_poll_stop(s);
	fb_notify_stop(&s->notifier);
	fuse_session_unmount(s->se);
	fb_req_drop_all(&s->reqs);
	fuse_session_destroy(s->se);
	s->se = NULL;
	s->conn = NULL;
	s->state = FB_CLOSED;
	free(s->buf.mem);
	s->buf.mem = NULL;
	fb_unref(s->env, &s->cb_request);
	fb_unref(s->env, &s->cb_init);
	fb_unref(s->env, &s->cb_closed);
	fb_unref(s->env, &s->cb_notified);
	if (s->async_ctx) {
		napi_async_destroy(s->env, s->async_ctx);
		s->async_ctx = NULL;
	}
}

/* Process exit with a live mount: unmount so the folder does not go stale. */
static void fb_cleanup_hook(void *arg)
{
	struct fb_session *s = arg;

	s->cleanup_hook = false;
	s->js_allowed = false;
	fb_close(s);
}

static void fb_finalize(napi_env env, void *data, void *hint)
{
	struct fb_session *s = data;

	(void) hint;
	if (s->cleanup_hook)
		napi_remove_env_cleanup_hook(env, fb_cleanup_hook, s);
	s->js_allowed = false;
	fb_close(s);
	fb_req_free(&s->reqs);
	free(s);
}

static int fb_get_prop(napi_env env, napi_value obj, const char *key,
		       napi_valuetype want, napi_value *out)
{
	napi_valuetype type;

	if (napi_get_named_property(env, obj, key, out) != napi_ok ||
	    napi_typeof(env, *out, &type) != napi_ok)
		return -1;
	if (type == napi_undefined)
		return 1;
	if (type != want) {
		char msg[96];

		snprintf(msg, sizeof(msg), "mount option %s has the wrong type", key);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
		return -1;
	}
	return 0;
}

static int fb_opt_bool(napi_env env, napi_value obj, const char *key, bool *out)
{
	napi_value v;
	int r = fb_get_prop(env, obj, key, napi_boolean, &v);

	*out = false;
	if (r != 0)
		return r < 0 ? -1 : 0;
	return napi_get_value_bool(env, v, out) == napi_ok ? 0 : -1;
}

static int fb_opt_uint(napi_env env, napi_value obj, const char *key, unsigned *out)
{
	napi_value v;
	uint32_t u;
	int r = fb_get_prop(env, obj, key, napi_number, &v);

	*out = 0;
	if (r != 0)
		return r < 0 ? -1 : 0;
	if (napi_get_value_uint32(env, v, &u) != napi_ok)
		return -1;
	*out = u;
	return 0;
}

/* A malloc'ed copy of a string option, NULL when absent. */
static int fb_opt_str(napi_env env, napi_value obj, const char *key, char **out)
{
	napi_value v;
	size_t len;
	int r = fb_get_prop(env, obj, key, napi_string, &v);

	*out = NULL;
	if (r != 0)
		return r < 0 ? -1 : 0;
	if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok ||
	    !(*out = malloc(len + 1)) ||
	    napi_get_value_string_utf8(env, v, *out, len + 1, &len) != napi_ok)
		return -1;
	return 0;
}

/* Appends `key=value` with libfuse's option escapes (backslash before , and \). */
static void fb_optcat(char *dst, const char *key, const char *value)
{
	char *p = dst + strlen(dst);

	if (p != dst)
		*p++ = ',';
	p = stpcpy(p, key);
	if (!value) {
		*p = '\0';
		return;
	}
	*p++ = '=';
	for (; *value; value++) {
		if (*value == ',' || *value == '\\')
			*p++ = '\\';
		*p++ = *value;
	}
	*p = '\0';
}

static int fb_get_cb(napi_env env, napi_value obj, const char *key, napi_ref *out)
{
	napi_value fn;

	if (fb_get_prop(env, obj, key, napi_function, &fn) != 0) {
		char msg[64];

		snprintf(msg, sizeof(msg), "callback %s must be a function", key);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
		return -1;
	}
	return napi_create_reference(env, fn, 1, out) == napi_ok ? 0 : -1;
}

/*
 * mount(mountpoint, options, callbacks) -> handle
 * options: { fsname, subtype?, readOnly?, allowOther?, defaultPermissions?,
 *            maxWrite?, maxRead?, writebackCache?, readdirplus?, debug? }
 * callbacks: { request, init, closed, notified }
 */
napi_value fb_session_mount(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], handle, name;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_lowlevel_ops ops;
	struct fb_session *s = NULL;
	char *mountpoint = NULL, *fsname = NULL, *subtype = NULL, *opts = NULL;
	bool ro, allow_other, default_perms, debug;
	uv_loop_t *loop;
	size_t len;
	int fd, flags;
	char msg[512];

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "mount(mountpoint, options, callbacks)");
		return NULL;
	}
	if (!(s = calloc(1, sizeof(*s))))
		goto out_nomem;
	s->env = env;
	s->js_allowed = true;

	if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mountpoint must be a string");
		goto out_free;
	}
	if (!(mountpoint = malloc(len + 1)))
		goto out_nomem;
	napi_get_value_string_utf8(env, argv[0], mountpoint, len + 1, &len);

	if (fb_opt_str(env, argv[1], "fsname", &fsname) != 0 ||
	    fb_opt_str(env, argv[1], "subtype", &subtype) != 0 ||
	    fb_opt_bool(env, argv[1], "readOnly", &ro) != 0 ||
	    fb_opt_bool(env, argv[1], "allowOther", &allow_other) != 0 ||
	    fb_opt_bool(env, argv[1], "defaultPermissions", &default_perms) != 0 ||
	    fb_opt_bool(env, argv[1], "writebackCache", &s->want_writeback) != 0 ||
	    fb_opt_bool(env, argv[1], "readdirplus", &s->want_readdirplus) != 0 ||
	    fb_opt_bool(env, argv[1], "debug", &debug) != 0 ||
	    fb_opt_uint(env, argv[1], "maxWrite", &s->max_write) != 0 ||
	    fb_opt_uint(env, argv[1], "maxRead", &s->max_read) != 0)
		goto out_throw;
	if (!s->max_write)
		s->max_write = FB_DEFAULT_MAX_WRITE;

	len = 2 * ((fsname ? strlen(fsname) : 0) + (subtype ? strlen(subtype) : 0)) + 256;
	if (!(opts = calloc(1, len)))
		goto out_nomem;
	fb_optcat(opts, "fsname", fsname ? fsname : "rmount");
	if (subtype)
		fb_optcat(opts, "subtype", subtype);
	if (ro)
		fb_optcat(opts, "ro", NULL);
	if (allow_other)
		fb_optcat(opts, "allow_other", NULL);
	if (default_perms)
		fb_optcat(opts, "default_permissions", NULL);
	if (s->max_read) {
		char num[32];

		snprintf(num, sizeof(num), "%u", s->max_read);
		fb_optcat(opts, "max_read", num);
	}
	if (fuse_opt_add_arg(&args, "rmount") != 0 ||
	    fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, opts) != 0 ||
	    (debug && fuse_opt_add_arg(&args, "-d") != 0))
		goto out_nomem;

	fb_ops_fill(&ops, s->want_readdirplus);
	s->se = fuse_session_new(&args, &ops, sizeof(ops), s);
	if (!s->se) {
		fb_throw_code(env, "ERR_FUSE_MOUNT", "fuse_session_new failed (libfuse printed why on stderr)");
		goto out_free;
	}
	if (fuse_session_mount(s->se, mountpoint) != 0) {
		snprintf(msg, sizeof(msg), "cannot mount FUSE on %s (libfuse printed why on stderr)", mountpoint);
		fb_throw_code(env, "ERR_FUSE_MOUNT", msg);
		goto out_destroy;
	}

	fd = fuse_session_fd(s->se);
	/* Our own device I/O, for FUSE_PARALLEL_DIROPS (init-io.c); plain read/writev otherwise. */
	s->init_watch.want_parallel = true;
	if (fuse_session_custom_io(s->se, &fb_init_io, fd) != 0)
		goto out_unmount_throw;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto out_errno;
	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		goto out_unmount_throw;
	if (fb_get_cb(env, argv[2], "request", &s->cb_request) != 0 ||
	    fb_get_cb(env, argv[2], "init", &s->cb_init) != 0 ||
	    fb_get_cb(env, argv[2], "closed", &s->cb_closed) != 0 ||
	    fb_get_cb(env, argv[2], "notified", &s->cb_notified) != 0)
		goto out_unmount_throw;
	if (napi_create_string_utf8(env, "rmount:fuse", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_async_init(env, argv[2], name, &s->async_ctx) != napi_ok)
		goto out_unmount_throw;
	if (fb_notify_start(&s->notifier, loop, s->se, fb_on_notified, s) != 0)
		goto out_errno;
	if (!(s->poll = malloc(sizeof(*s->poll))))
		goto out_nomem_unmount;
	if (uv_poll_init(loop, s->poll, fd) != 0) {
		free(s->poll);
		s->poll = NULL;
		goto out_errno;
	}
	s->poll->data = s;
	if (uv_poll_start(s->poll, UV_READABLE, fb_on_poll) != 0)
		goto out_errno;

	if (napi_create_external(env, s, fb_finalize, NULL, &handle) != napi_ok ||
	    napi_type_tag_object(env, handle, &fb_session_tag) != napi_ok)
		goto out_unmount_throw;
	if (napi_add_env_cleanup_hook(env, fb_cleanup_hook, s) == napi_ok)
		s->cleanup_hook = true;
	fuse_opt_free_args(&args);
	free(mountpoint);
	free(fsname);
	free(subtype);
	free(opts);
	return handle;

out_errno:
	snprintf(msg, sizeof(msg), "FUSE mount setup failed: %s", strerror(errno));
	fb_throw_code(env, "ERR_FUSE_MOUNT", msg);
	goto out_unmount;
out_nomem_unmount:
	fb_throw_code(env, "ERR_FUSE_MOUNT", "out of memory");
	goto out_unmount;
out_unmount_throw:
	fb_throw_napi_error(env, "mount");
out_unmount:
	/* fb_close needs a session that looks mounted. */
	s->js_allowed = false;
	fb_close(s);
	goto out_free;
out_destroy:
	fuse_session_destroy(s->se);
	goto out_free;
out_nomem:
	fb_throw_code(env, "ERR_FUSE_MOUNT", "out of memory");
	goto out_free;
out_throw:
	fb_throw_code(env, "ERR_INVALID_ARG_TYPE", "invalid mount options");
out_free:
	fuse_opt_free_args(&args);
	if (s)
		fb_req_free(&s->reqs);
	free(s);
	free(mountpoint);
	free(fsname);
	free(subtype);
	free(opts);
	return NULL;
}

/* unmount(handle): idempotent; throws if called from inside a request callback. */
napi_value fb_session_unmount(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	struct fb_session *s;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !(s = fb_session_from(env, argv[0])))
		return NULL;
	if (s->dispatching) {
		fb_throw_code(env, "ERR_FUSE_REENTRANT", "unmount() from inside a FUSE callback; defer it");
		return NULL;
	}
	fb_close(s);
	if (s->cleanup_hook) {
		napi_remove_env_cleanup_hook(env, fb_cleanup_hook, s);
		s->cleanup_hook = false;
	}
	return NULL;
}

/* pending(handle): how many requests wait for a reply. */
napi_value fb_session_pending(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	struct fb_session *s;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !(s = fb_session_from(env, argv[0])))
		return NULL;
	NAPI_CALL(env, napi_create_uint32(env, s->reqs.pending, &out));
	return out;
}

static napi_value fb_ticket(napi_env env, int res, double ticket)
{
	napi_value out;

	if (res == -ENOTCONN) {
		fb_throw_code(env, "ERR_FUSE_CLOSED", "the mount is closed");
		return NULL;
	}
	if (res != 0) {
		fb_throw_code(env, "ERR_FUSE_NOTIFY", strerror(-res));
		return NULL;
	}
	NAPI_CALL(env, napi_create_double(env, ticket, &out));
	return out;
}

/* notifyInvalInode(handle, ino, offset, length) -> ticket; the result comes through notified(). */
napi_value fb_session_notify_inode(napi_env env, napi_callback_info info)
{
	size_t argc = 4;
	napi_value argv[4];
	struct fb_session *s;
	uint64_t ino, len;
	int64_t off;
	double ticket = 0;
	int res;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 4 || !(s = fb_session_from(env, argv[0])) ||
	    !fb_get_u64(env, argv[1], &ino) || !fb_get_u64(env, argv[3], &len))
		return NULL;
	/* A negative offset asks the kernel to drop the attributes only, not the pages. */
	if (napi_get_value_int64(env, argv[2], &off) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an integer offset");
		return NULL;
	}
	res = fb_notify_inode(&s->notifier, ino, (off_t) off, (off_t) len, &ticket);
	return fb_ticket(env, res, ticket);
}

/* notifyInvalEntry(handle, parent, name) -> ticket; the result comes through notified(). */
napi_value fb_session_notify_entry(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	struct fb_session *s;
	uint64_t parent;
	int res;
	char name[1024];
	size_t len;
	double ticket = 0;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3 || !(s = fb_session_from(env, argv[0])) || !fb_get_u64(env, argv[1], &parent))
		return NULL;
	NAPI_CALL(env, napi_get_value_string_utf8(env, argv[2], name, sizeof(name), &len));
	if (len >= sizeof(name) - 1) {
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "name too long");
		return NULL;
	}
	res = fb_notify_entry(&s->notifier, parent, name, len, &ticket);
	return fb_ticket(env, res, ticket);
}
