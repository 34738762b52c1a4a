#ifndef FB_CONVERT_H
#define FB_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <node_api.h>

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

/*
 * Evaluates an N-API call; on failure throws a JS Error (unless one is
 * already pending) and returns NULL from the enclosing napi_callback.
 */
#define NAPI_CALL(env, call)						\
	do {								\
		if ((call) != napi_ok) {				\
			fb_throw_napi_error((env), #call);		\
			return NULL;					\
		}							\
	} while (0)

/* Layouts of the Float64Arrays shared with src/fuse/native.ts. */
#define FB_ATTR_LEN		15	/* ino mode nlink uid gid rdev size blksize blocks a.s a.ns m.s m.ns c.s c.ns */
#define FB_ENTRY_LEN		(4 + FB_ATTR_LEN)	/* ino generation attrTimeout entryTimeout attr */
#define FB_STATFS_LEN		10	/* bsize frsize blocks bfree bavail files ffree favail flag namemax */
#define FB_SETATTR_LEN		10	/* mode uid gid size a.s a.ns m.s m.ns c.s c.ns */
#define FB_DIRENT_STRIDE	3	/* ino mode off */
#define FB_DIRENTPLUS_STRIDE	(1 + FB_ENTRY_LEN)	/* off entry */

/* Bits of the `flags` argument of replyOpen/replyCreate. */
#define FB_OPEN_DIRECT_IO	1
#define FB_OPEN_KEEP_CACHE	2
#define FB_OPEN_NONSEEKABLE	4
#define FB_OPEN_CACHE_DIR	8

/* Arguments for a JS call, built without checking each step. */
struct fb_args {
	napi_env env;
	napi_value v[8];
	size_t n;
	bool failed;
};

void fb_throw_napi_error(napi_env env, const char *what);
void fb_throw_code(napi_env env, const char *code, const char *msg);

void fb_args_init(struct fb_args *a, napi_env env);
void fb_arg_num(struct fb_args *a, double d);
void fb_arg_str(struct fb_args *a, const char *s);
void fb_arg_undef(struct fb_args *a);
void fb_arg_copy(struct fb_args *a, const void *data, size_t len);
void fb_arg_f64(struct fb_args *a, const double *vals, size_t n);
void fb_arg_value(struct fb_args *a, napi_value v);

bool fb_get_f64(napi_env env, napi_value v, double **out, size_t want);
bool fb_get_u64(napi_env env, napi_value v, uint64_t *out);
bool fb_get_int(napi_env env, napi_value v, int *out);
void fb_attr_from(const double *d, struct stat *st);
void fb_entry_from(const double *d, struct fuse_entry_param *e);
void fb_statfs_from(const double *d, struct statvfs *sv);

#endif
