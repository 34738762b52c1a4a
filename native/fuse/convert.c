#include "convert.h"
#include <stdio.h>
#include <string.h>

/*
 * Numbers cross the boundary as JS doubles. Inode numbers, file handles,
 * offsets and sizes are below 2^53 (the contract in operations.ts), so
 * every conversion here is exact; larger values would lose low bits.
 */

void fb_throw_code(napi_env env, const char *code, const char *msg)
{
	bool pending = false;

	napi_is_exception_pending(env, &pending);
	if (!pending)
		napi_throw_error(env, code, msg);
}

void fb_throw_napi_error(napi_env env, const char *what)
{
	const napi_extended_error_info *info = NULL;
	char msg[256];

	napi_get_last_error_info(env, &info);
	snprintf(msg, sizeof(msg), "%s failed: %s", what,
		 info && info->error_message ? info->error_message : "N-API error");
	fb_throw_code(env, "ERR_FUSE_NAPI", msg);
}

void fb_args_init(struct fb_args *a, napi_env env)
{
	a->env = env;
	a->n = 0;
	a->failed = false;
}

static napi_value *fb_arg_slot(struct fb_args *a)
{
	if (a->failed || a->n >= sizeof(a->v) / sizeof(a->v[0])) {
		a->failed = true;
		return NULL;
	}
	return &a->v[a->n++];
}

void fb_arg_value(struct fb_args *a, napi_value v)
{
	napi_value *slot = fb_arg_slot(a);

	if (slot)
		*slot = v;
}

void fb_arg_num(struct fb_args *a, double d)
{
	napi_value *slot = fb_arg_slot(a);

	if (slot && napi_create_double(a->env, d, slot) != napi_ok)
		a->failed = true;
}

void fb_arg_str(struct fb_args *a, const char *s)
{
	napi_value *slot = fb_arg_slot(a);

	if (slot && napi_create_string_utf8(a->env, s, NAPI_AUTO_LENGTH, slot) != napi_ok)
		a->failed = true;
}

void fb_arg_undef(struct fb_args *a)
{
	napi_value *slot = fb_arg_slot(a);

	if (slot && napi_get_undefined(a->env, slot) != napi_ok)
		a->failed = true;
}

/* `data` dies when the op callback returns: the JS Buffer gets its own copy. */
void fb_arg_copy(struct fb_args *a, const void *data, size_t len)
{
	napi_value *slot = fb_arg_slot(a);
	void *copy;

	if (slot && napi_create_buffer_copy(a->env, len, data, &copy, slot) != napi_ok)
		a->failed = true;
}

void fb_arg_f64(struct fb_args *a, const double *vals, size_t n)
{
	napi_value *slot = fb_arg_slot(a);
	napi_value ab;
	void *mem;

	if (!slot)
		return;
	if (napi_create_arraybuffer(a->env, n * sizeof(double), &mem, &ab) != napi_ok ||
	    napi_create_typedarray(a->env, napi_float64_array, n, ab, 0, slot) != napi_ok) {
		a->failed = true;
		return;
	}
	memcpy(mem, vals, n * sizeof(double));
}

/* A Float64Array of at least `want` elements; throws a TypeError otherwise. */
bool fb_get_f64(napi_env env, napi_value v, double **out, size_t want)
{
	napi_typedarray_type type;
	size_t len;
	void *data;
	bool is_ta = false;

	if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
	    napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok ||
	    type != napi_float64_array || len < want) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a Float64Array of the documented layout");
		return false;
	}
	*out = data;
	return true;
}

bool fb_get_u64(napi_env env, napi_value v, uint64_t *out)
{
	double d;

	if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9007199254740992.0) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a non-negative number below 2^53");
		return false;
	}
	*out = (uint64_t) d;
	return true;
}

bool fb_get_int(napi_env env, napi_value v, int *out)
{
	int32_t i;

	if (napi_get_value_int32(env, v, &i) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an integer");
		return false;
	}
	*out = i;
	return true;
}

void fb_attr_from(const double *d, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t) d[0];
	st->st_mode = (mode_t) d[1];
	st->st_nlink = (nlink_t) d[2];
	st->st_uid = (uid_t) d[3];
	st->st_gid = (gid_t) d[4];
	st->st_rdev = (dev_t) d[5];
	st->st_size = (off_t) d[6];
	st->st_blksize = (blksize_t) d[7];
	st->st_blocks = (blkcnt_t) d[8];
	st->st_atim.tv_sec = (time_t) d[9];
	st->st_atim.tv_nsec = (long) d[10];
	st->st_mtim.tv_sec = (time_t) d[11];
	st->st_mtim.tv_nsec = (long) d[12];
	st->st_ctim.tv_sec = (time_t) d[13];
	st->st_ctim.tv_nsec = (long) d[14];
}

void fb_entry_from(const double *d, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (fuse_ino_t) d[0];
	e->generation = (uint64_t) d[1];
	e->attr_timeout = d[2];
	e->entry_timeout = d[3];
	fb_attr_from(d + 4, &e->attr);
}

void fb_statfs_from(const double *d, struct statvfs *sv)
{
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = (unsigned long) d[0];
	sv->f_frsize = (unsigned long) d[1];
	sv->f_blocks = (fsblkcnt_t) d[2];
	sv->f_bfree = (fsblkcnt_t) d[3];
	sv->f_bavail = (fsblkcnt_t) d[4];
	sv->f_files = (fsfilcnt_t) d[5];
	sv->f_ffree = (fsfilcnt_t) d[6];
	sv->f_favail = (fsfilcnt_t) d[7];
	sv->f_flag = (unsigned long) d[8];
	sv->f_namemax = (unsigned long) d[9];
}
