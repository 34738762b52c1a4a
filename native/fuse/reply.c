#include "reply.h"
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The reply bindings: reply*(handle, id, ...). Each one checks everything
 * before it takes the request out of the table, so a bad argument throws
 * and leaves the request pending (the dispatcher then answers EIO), while
 * an unknown or answered id throws and sends nothing: a second fuse_reply_*
 * for one request would be a use after free inside libfuse.
 */

#define FB_ENTRY_OPS	(FB_OP_BIT(FB_OP_LOOKUP) | FB_OP_BIT(FB_OP_MKNOD) | \
			 FB_OP_BIT(FB_OP_MKDIR) | FB_OP_BIT(FB_OP_SYMLINK) | \
			 FB_OP_BIT(FB_OP_LINK))
#define FB_OK_OPS	(FB_OP_BIT(FB_OP_UNLINK) | FB_OP_BIT(FB_OP_RMDIR) | \
			 FB_OP_BIT(FB_OP_RENAME) | FB_OP_BIT(FB_OP_FLUSH) | \
			 FB_OP_BIT(FB_OP_RELEASE) | FB_OP_BIT(FB_OP_FSYNC) | \
			 FB_OP_BIT(FB_OP_RELEASEDIR) | FB_OP_BIT(FB_OP_FSYNCDIR) | \
			 FB_OP_BIT(FB_OP_ACCESS))
#define FB_ALL_OPS	((1u << FB_OP_COUNT) - 1)

struct fb_reply {
	struct fb_session *s;
	struct fb_req_slot *slot;
	napi_value argv[6];
};

/* Finds the session and the pending request named by argv[0], argv[1]. */
static bool fb_reply_begin(napi_env env, napi_callback_info info, size_t want,
			   uint32_t ops, const char *what, struct fb_reply *r)
{
	size_t argc = want;
	double id;
	char msg[160];

	if (napi_get_cb_info(env, info, &argc, r->argv, NULL, NULL) != napi_ok) {
		fb_throw_napi_error(env, what);
		return false;
	}
	if (argc < want) {
		snprintf(msg, sizeof(msg), "%s: expected %zu arguments", what, want);
		napi_throw_type_error(env, "ERR_MISSING_ARGS", msg);
		return false;
	}
	if (!(r->s = fb_session_from(env, r->argv[0])))
		return false;
	if (r->s->state == FB_CLOSED) {
		fb_throw_code(env, "ERR_FUSE_CLOSED", "the mount is closed");
		return false;
	}
	if (napi_get_value_double(env, r->argv[1], &id) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "request id must be a number");
		return false;
	}
	if (!(r->slot = fb_req_find(&r->s->reqs, id))) {
		snprintf(msg, sizeof(msg), "%s: request %.0f is unknown or was already answered", what, id);
		fb_throw_code(env, "ERR_FUSE_REPLY", msg);
		return false;
	}
	if (!(ops & FB_OP_BIT(r->slot->op))) {
		snprintf(msg, sizeof(msg), "%s cannot answer a %s request", what, fb_op_name(r->slot->op));
		napi_throw_type_error(env, "ERR_FUSE_REPLY_TYPE", msg);
		return false;
	}
	return true;
}

static fuse_req_t fb_reply_take(struct fb_reply *r)
{
	return fb_req_release(&r->s->reqs, r->slot);
}

/* replyErr(handle, id, errno > 0) */
napi_value fb_reply_err(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	int err;

	if (!fb_reply_begin(env, info, 3, FB_ALL_OPS, "replyErr", &r) ||
	    !fb_get_int(env, r.argv[2], &err))
		return NULL;
	if (err <= 0) {
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "replyErr: errno must be positive");
		return NULL;
	}
	fuse_reply_err(fb_reply_take(&r), err);
	return NULL;
}

/* replyOk(handle, id): success without data. */
napi_value fb_reply_ok(napi_env env, napi_callback_info info)
{
	struct fb_reply r;

	if (!fb_reply_begin(env, info, 2, FB_OK_OPS, "replyOk", &r))
		return NULL;
	fuse_reply_err(fb_reply_take(&r), 0);
	return NULL;
}

/* replyEntry(handle, id, Float64Array(FB_ENTRY_LEN)) */
napi_value fb_reply_entry(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	struct fuse_entry_param e;
	double *d;

	if (!fb_reply_begin(env, info, 3, FB_ENTRY_OPS, "replyEntry", &r) ||
	    !fb_get_f64(env, r.argv[2], &d, FB_ENTRY_LEN))
		return NULL;
	fb_entry_from(d, &e);
	fuse_reply_entry(fb_reply_take(&r), &e);
	return NULL;
}

static void fb_open_flags(struct fuse_file_info *fi, double fh, int flags)
{
	memset(fi, 0, sizeof(*fi));
	fi->fh = (uint64_t) fh;
	fi->direct_io = !!(flags & FB_OPEN_DIRECT_IO);
	fi->keep_cache = !!(flags & FB_OPEN_KEEP_CACHE);
	fi->nonseekable = !!(flags & FB_OPEN_NONSEEKABLE);
	fi->cache_readdir = !!(flags & FB_OPEN_CACHE_DIR);
}

/* replyCreate(handle, id, Float64Array(FB_ENTRY_LEN), fh, openFlags) */
napi_value fb_reply_create(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	struct fuse_entry_param e;
	struct fuse_file_info fi;
	uint64_t fh;
	double *d;
	int flags;

	if (!fb_reply_begin(env, info, 5, FB_OP_BIT(FB_OP_CREATE), "replyCreate", &r) ||
	    !fb_get_f64(env, r.argv[2], &d, FB_ENTRY_LEN) ||
	    !fb_get_u64(env, r.argv[3], &fh) || !fb_get_int(env, r.argv[4], &flags))
		return NULL;
	fb_entry_from(d, &e);
	fb_open_flags(&fi, (double) fh, flags);
	fuse_reply_create(fb_reply_take(&r), &e, &fi);
	return NULL;
}

/* replyAttr(handle, id, Float64Array(FB_ATTR_LEN), timeout) */
napi_value fb_reply_attr(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	struct stat st;
	double *d, timeout;

	if (!fb_reply_begin(env, info, 4, FB_OP_BIT(FB_OP_GETATTR) | FB_OP_BIT(FB_OP_SETATTR),
			    "replyAttr", &r) ||
	    !fb_get_f64(env, r.argv[2], &d, FB_ATTR_LEN))
		return NULL;
	if (napi_get_value_double(env, r.argv[3], &timeout) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "replyAttr: timeout must be a number");
		return NULL;
	}
	fb_attr_from(d, &st);
	fuse_reply_attr(fb_reply_take(&r), &st, timeout);
	return NULL;
}

/* replyReadlink(handle, id, target) */
napi_value fb_reply_readlink(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	size_t len;
	char *target;

	if (!fb_reply_begin(env, info, 3, FB_OP_BIT(FB_OP_READLINK), "replyReadlink", &r))
		return NULL;
	if (napi_get_value_string_utf8(env, r.argv[2], NULL, 0, &len) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "replyReadlink: target must be a string");
		return NULL;
	}
	if (!(target = malloc(len + 1))) {
		fb_throw_code(env, "ERR_FUSE_NOMEM", "out of memory");
		return NULL;
	}
	napi_get_value_string_utf8(env, r.argv[2], target, len + 1, &len);
	fuse_reply_readlink(fb_reply_take(&r), target);
	free(target);
	return NULL;
}

/* replyOpen(handle, id, fh, openFlags) for open and opendir. */
napi_value fb_reply_open(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	struct fuse_file_info fi;
	uint64_t fh;
	int flags;

	if (!fb_reply_begin(env, info, 4, FB_OP_BIT(FB_OP_OPEN) | FB_OP_BIT(FB_OP_OPENDIR),
			    "replyOpen", &r) ||
	    !fb_get_u64(env, r.argv[2], &fh) || !fb_get_int(env, r.argv[3], &flags))
		return NULL;
	fb_open_flags(&fi, (double) fh, flags);
	fuse_reply_open(fb_reply_take(&r), &fi);
	return NULL;
}

/* replyWrite(handle, id, count) */
napi_value fb_reply_write(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	uint64_t count;

	if (!fb_reply_begin(env, info, 3, FB_OP_BIT(FB_OP_WRITE), "replyWrite", &r) ||
	    !fb_get_u64(env, r.argv[2], &count))
		return NULL;
	fuse_reply_write(fb_reply_take(&r), (size_t) count);
	return NULL;
}

/* replyBuf(handle, id, Uint8Array) for read: at most the requested size. */
napi_value fb_reply_buf(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	napi_typedarray_type type;
	bool is_ta = false;
	size_t len;
	void *data;

	if (!fb_reply_begin(env, info, 3, FB_OP_BIT(FB_OP_READ), "replyBuf", &r))
		return NULL;
	if (napi_is_typedarray(env, r.argv[2], &is_ta) != napi_ok || !is_ta ||
	    napi_get_typedarray_info(env, r.argv[2], &type, &len, &data, NULL, NULL) != napi_ok ||
	    type != napi_uint8_array) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "replyBuf: data must be a Uint8Array");
		return NULL;
	}
	if (len > r.slot->size) {
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "replyBuf: more data than the kernel asked for");
		return NULL;
	}
	fuse_reply_buf(fb_reply_take(&r), data, len);
	return NULL;
}

/* replyStatfs(handle, id, Float64Array(FB_STATFS_LEN)) */
napi_value fb_reply_statfs(napi_env env, napi_callback_info info)
{
	struct fb_reply r;
	struct statvfs sv;
	double *d;

	if (!fb_reply_begin(env, info, 3, FB_OP_BIT(FB_OP_STATFS), "replyStatfs", &r) ||
	    !fb_get_f64(env, r.argv[2], &d, FB_STATFS_LEN))
		return NULL;
	fb_statfs_from(d, &sv);
	fuse_reply_statfs(fb_reply_take(&r), &sv);
	return NULL;
}

/* Checks (names: string[], Float64Array of n * stride) and returns n. */
static bool fb_dir_args(napi_env env, struct fb_reply *r, size_t stride, uint32_t *n, double **d)
{
	bool is_array = false;

	if (napi_is_array(env, r->argv[2], &is_array) != napi_ok || !is_array ||
	    napi_get_array_length(env, r->argv[2], n) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "names must be an array of strings");
		return false;
	}
	return fb_get_f64(env, r->argv[3], d, (size_t) *n * stride);
}

/*
 * Fills a buffer of the kernel's size with as many entries as fit, stops
 * at the first that does not, replies, and returns how many went in. For
 * readdirplus each entry sent (but "." and "..") is a lookup reference.
 */
static napi_value fb_reply_dir(napi_env env, napi_callback_info info, bool plus)
{
	struct fb_reply r;
	struct fuse_entry_param e;
	struct stat st;
	uint32_t n, i, added = 0;
	size_t stride = plus ? FB_DIRENTPLUS_STRIDE : FB_DIRENT_STRIDE;
	size_t pos = 0, size, need, len;
	char name[1024];
	napi_value v, out;
	double *d;
	char *buf;

	if (!fb_reply_begin(env, info, 4, FB_OP_BIT(plus ? FB_OP_READDIRPLUS : FB_OP_READDIR),
			    plus ? "replyReaddirplus" : "replyReaddir", &r) ||
	    !fb_dir_args(env, &r, stride, &n, &d))
		return NULL;
	size = r.slot->size;
	if (!(buf = malloc(size ? size : 1))) {
		fb_throw_code(env, "ERR_FUSE_NOMEM", "out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++, d += stride) {
		if (napi_get_element(env, r.argv[2], i, &v) != napi_ok ||
		    napi_get_value_string_utf8(env, v, name, sizeof(name), &len) != napi_ok ||
		    len >= sizeof(name) - 1) {
			napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "names must be strings below 1024 bytes");
			free(buf);
			return NULL;
		}
		if (plus) {
			fb_entry_from(d + 1, &e);
			need = fuse_add_direntry_plus(r.slot->req, buf + pos, size - pos, name, &e, (off_t) d[0]);
		} else {
			memset(&st, 0, sizeof(st));
			st.st_ino = (ino_t) d[0];
			st.st_mode = (mode_t) d[1];
			need = fuse_add_direntry(r.slot->req, buf + pos, size - pos, name, &st, (off_t) d[2]);
		}
		if (need > size - pos)
			break;
		pos += need;
		added++;
	}
	fuse_reply_buf(fb_reply_take(&r), buf, pos);
	free(buf);
	NAPI_CALL(env, napi_create_uint32(env, added, &out));
	return out;
}

/* replyReaddir(handle, id, names, Float64Array(n * FB_DIRENT_STRIDE)) -> entries sent */
napi_value fb_reply_readdir(napi_env env, napi_callback_info info)
{
	return fb_reply_dir(env, info, false);
}

/* replyReaddirplus(handle, id, names, Float64Array(n * FB_DIRENTPLUS_STRIDE)) -> entries sent */
napi_value fb_reply_readdirplus(napi_env env, napi_callback_info info)
{
	return fb_reply_dir(env, info, true);
}
