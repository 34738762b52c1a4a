#include "ops.h"
#include "session.h"

#include <string.h>

/*
 * The libfuse callbacks. Each one copies its arguments into JS values
 * (they die when it returns) and hands the request to JS, which answers
 * later through reply.c. They all run on the JS thread, from fb_on_poll.
 */

static void fb_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fb_session *s = userdata;
	unsigned want = conn->want;

	/*
	 * Splice moves pages through a pipe per thread and gains nothing for
	 * a remote filesystem; export support would promise stable handles.
	 * READDIRPLUS_AUTO off: when the VFS has readdirplus, the remote gives
	 * attributes with every listing, so the kernel should always ask for them.
	 */
	want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
		  FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO |
		  FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	want |= FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_ATOMIC_O_TRUNC;
	if (s->want_readdirplus)
		want |= FUSE_CAP_READDIRPLUS;
	if (s->want_writeback)
		want |= FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * The VFS tells the kernel which pages went stale (notify_inval_inode,
	 * for a change the watch reported or a refetch showed). Left to itself
	 * the kernel drops a file's pages whenever its mtime moves, our own
	 * writes' included, so a file written and mapped here would be read
	 * again after every stat.
	 */
	if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA) {
		want &= ~FUSE_CAP_AUTO_INVAL_DATA;
		want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
	}
	/* libfuse fails the mount with EPROTO if we want what the kernel lacks. */
	conn->want = want & conn->capable;
	/* libfuse 3.14 clamps this to its 1 MiB buffer and derives max_pages from it. */
	conn->max_write = s->max_write;
	/* Must equal the max_read mount option, or libfuse refuses the init. */
	conn->max_read = s->max_read;
	s->conn = conn;
	s->init_pending = true;
}

static void fb_op_destroy(void *userdata)
{
	struct fb_session *s = userdata;
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_session_emit_noreply(s, "destroy", &a);
}

static void fb_fh_or_undef(struct fb_args *a, struct fuse_file_info *fi)
{
	if (fi)
		fb_arg_num(a, (double) fi->fh);
	else
		fb_arg_undef(a);
}

static void fb_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) parent);
	fb_arg_str(&a, name);
	fb_session_emit(s, req, FB_OP_LOOKUP, 0, &a);
}

static void fb_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fuse_reply_none(req);
	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, (double) nlookup);
	fb_session_emit_noreply(s, "forget", &a);
}

static void fb_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fb_session *s = fuse_req_userdata(req);
	napi_handle_scope scope;
	struct fb_args a;
	size_t i;

	/* `forgets` lives in the receive buffer, which no reply touches. */
	fuse_reply_none(req);
	for (i = 0; i < count; i++) {
		if (napi_open_handle_scope(s->env, &scope) != napi_ok)
			return;
		fb_args_init(&a, s->env);
		fb_arg_num(&a, (double) forgets[i].ino);
		fb_arg_num(&a, (double) forgets[i].nlookup);
		fb_session_emit_noreply(s, "forget", &a);
		napi_close_handle_scope(s->env, scope);
	}
}

static void fb_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_fh_or_undef(&a, fi);
	fb_session_emit(s, req, FB_OP_GETATTR, 0, &a);
}

/* JS decodes `to_set` (FUSE_SET_ATTR_*) with the values laid out as FB_SETATTR_LEN. */
static void fb_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;
	double v[FB_SETATTR_LEN] = {
		attr->st_mode, attr->st_uid, attr->st_gid, (double) attr->st_size,
		(double) attr->st_atim.tv_sec, (double) attr->st_atim.tv_nsec,
		(double) attr->st_mtim.tv_sec, (double) attr->st_mtim.tv_nsec,
		(double) attr->st_ctim.tv_sec, (double) attr->st_ctim.tv_nsec,
	};

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, to_set);
	fb_arg_f64(&a, v, FB_SETATTR_LEN);
	fb_fh_or_undef(&a, fi);
	fb_session_emit(s, req, FB_OP_SETATTR, 0, &a);
}

static void fb_op_ino(fuse_req_t req, fuse_ino_t ino, enum fb_op op)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_session_emit(s, req, op, 0, &a);
}

static void fb_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	fb_op_ino(req, ino, FB_OP_READLINK);
}

static void fb_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	fb_op_ino(req, ino, FB_OP_STATFS);
}

static void fb_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) parent);
	fb_arg_str(&a, name);
	fb_arg_num(&a, mode);
	fb_arg_num(&a, (double) rdev);
	fb_session_emit(s, req, FB_OP_MKNOD, 0, &a);
}

static void fb_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) parent);
	fb_arg_str(&a, name);
	fb_arg_num(&a, mode);
	fb_session_emit(s, req, FB_OP_MKDIR, 0, &a);
}

static void fb_op_parent_name(fuse_req_t req, fuse_ino_t parent, const char *name, enum fb_op op)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) parent);
	fb_arg_str(&a, name);
	fb_session_emit(s, req, op, 0, &a);
}

static void fb_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fb_op_parent_name(req, parent, name, FB_OP_UNLINK);
}

static void fb_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fb_op_parent_name(req, parent, name, FB_OP_RMDIR);
}

static void fb_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_str(&a, link);
	fb_arg_num(&a, (double) parent);
	fb_arg_str(&a, name);
	fb_session_emit(s, req, FB_OP_SYMLINK, 0, &a);
}

static void fb_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) parent);
	fb_arg_str(&a, name);
	fb_arg_num(&a, (double) newparent);
	fb_arg_str(&a, newname);
	fb_arg_num(&a, flags);
	fb_session_emit(s, req, FB_OP_RENAME, 0, &a);
}

static void fb_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, (double) newparent);
	fb_arg_str(&a, newname);
	fb_session_emit(s, req, FB_OP_LINK, 0, &a);
}

static void fb_op_open_flags(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
			     enum fb_op op)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, fi->flags);
	fb_session_emit(s, req, op, 0, &a);
}

static void fb_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fb_op_open_flags(req, ino, fi, FB_OP_OPEN);
}

static void fb_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fb_op_open_flags(req, ino, fi, FB_OP_OPENDIR);
}

/* read, readdir, readdirplus: (ino, fh, offset, size). */
static void fb_op_sized(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi, enum fb_op op)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, (double) fi->fh);
	fb_arg_num(&a, (double) off);
	fb_arg_num(&a, (double) size);
	fb_session_emit(s, req, op, size, &a);
}

static void fb_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	fb_op_sized(req, ino, size, off, fi, FB_OP_READ);
}

static void fb_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	fb_op_sized(req, ino, size, off, fi, FB_OP_READDIR);
}

static void fb_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	fb_op_sized(req, ino, size, off, fi, FB_OP_READDIRPLUS);
}

static void fb_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, (double) fi->fh);
	fb_arg_copy(&a, buf, size);
	fb_arg_num(&a, (double) off);
	fb_session_emit(s, req, FB_OP_WRITE, 0, &a);
}

/* flush, release, releasedir: (ino, fh). */
static void fb_op_fh(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, enum fb_op op)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, (double) fi->fh);
	fb_session_emit(s, req, op, 0, &a);
}

static void fb_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fb_op_fh(req, ino, fi, FB_OP_FLUSH);
}

static void fb_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fb_op_fh(req, ino, fi, FB_OP_RELEASE);
}

static void fb_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fb_op_fh(req, ino, fi, FB_OP_RELEASEDIR);
}

/* fsync, fsyncdir: (ino, fh, datasync). */
static void fb_op_sync(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi, enum fb_op op)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, (double) fi->fh);
	fb_arg_num(&a, datasync != 0);
	fb_session_emit(s, req, op, 0, &a);
}

static void fb_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fb_op_sync(req, ino, datasync, fi, FB_OP_FSYNC);
}

static void fb_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fb_op_sync(req, ino, datasync, fi, FB_OP_FSYNCDIR);
}

static void fb_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) ino);
	fb_arg_num(&a, mask);
	fb_session_emit(s, req, FB_OP_ACCESS, 0, &a);
}

static void fb_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	struct fb_session *s = fuse_req_userdata(req);
	struct fb_args a;

	fb_args_init(&a, s->env);
	fb_arg_num(&a, (double) parent);
	fb_arg_str(&a, name);
	fb_arg_num(&a, mode);
	fb_arg_num(&a, fi->flags);
	fb_session_emit(s, req, FB_OP_CREATE, 0, &a);
}

static const struct fuse_lowlevel_ops fb_ops = {
	.init		= fb_op_init,
	.destroy	= fb_op_destroy,
	.lookup		= fb_op_lookup,
	.forget		= fb_op_forget,
	.forget_multi	= fb_op_forget_multi,
	.getattr	= fb_op_getattr,
	.setattr	= fb_op_setattr,
	.readlink	= fb_op_readlink,
	.mknod		= fb_op_mknod,
	.mkdir		= fb_op_mkdir,
	.unlink		= fb_op_unlink,
	.rmdir		= fb_op_rmdir,
	.symlink	= fb_op_symlink,
	.rename		= fb_op_rename,
	.link		= fb_op_link,
	.open		= fb_op_open,
	.read		= fb_op_read,
	.write		= fb_op_write,
	.flush		= fb_op_flush,
	.release	= fb_op_release,
	.fsync		= fb_op_fsync,
	.opendir	= fb_op_opendir,
	.readdir	= fb_op_readdir,
	.readdirplus	= fb_op_readdirplus,
	.releasedir	= fb_op_releasedir,
	.fsyncdir	= fb_op_fsyncdir,
	.statfs		= fb_op_statfs,
	.access		= fb_op_access,
	.create		= fb_op_create,
};

/* Without readdirplus in the VFS, init does not ask for it and libfuse answers ENOSYS. */
void fb_ops_fill(struct fuse_lowlevel_ops *ops, bool readdirplus)
{
	memcpy(ops, &fb_ops, sizeof(*ops));
	if (!readdirplus)
		ops->readdirplus = NULL;
}
