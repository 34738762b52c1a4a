#ifndef FB_REQ_H
#define FB_REQ_H

#include "convert.h"

/* The ops whose requests wait in the table for a reply from JS. */
enum fb_op {
	FB_OP_LOOKUP,
	FB_OP_GETATTR,
	FB_OP_SETATTR,
	FB_OP_READLINK,
	FB_OP_MKNOD,
	FB_OP_MKDIR,
	FB_OP_UNLINK,
	FB_OP_RMDIR,
	FB_OP_SYMLINK,
	FB_OP_RENAME,
	FB_OP_LINK,
	FB_OP_OPEN,
	FB_OP_READ,
	FB_OP_WRITE,
	FB_OP_FLUSH,
	FB_OP_RELEASE,
	FB_OP_FSYNC,
	FB_OP_OPENDIR,
	FB_OP_READDIR,
	FB_OP_READDIRPLUS,
	FB_OP_RELEASEDIR,
	FB_OP_FSYNCDIR,
	FB_OP_STATFS,
	FB_OP_ACCESS,
	FB_OP_CREATE,
	FB_OP_COUNT
};

#define FB_OP_BIT(op)	(1u << (op))

/* A pending request. `req` is NULL while the slot is free. */
struct fb_req_slot {
	fuse_req_t req;
	uint32_t gen;		/* bumped on release, so stale ids never match */
	uint32_t next_free;	/* free-list link while free */
	enum fb_op op;
	size_t size;		/* readdir(plus): the kernel's buffer size */
};

/* Requests registered by the op callbacks; JS thread only. */
struct fb_req_table {
	struct fb_req_slot *slots;
	uint32_t cap;
	uint32_t free_head;
	uint32_t pending;
};

const char *fb_op_name(enum fb_op op);
int fb_req_register(struct fb_req_table *t, fuse_req_t req, enum fb_op op,
		    size_t size, double *id);
struct fb_req_slot *fb_req_find(struct fb_req_table *t, double id);
fuse_req_t fb_req_release(struct fb_req_table *t, struct fb_req_slot *slot);
void fb_req_drop_all(struct fb_req_table *t);
void fb_req_free(struct fb_req_table *t);

#endif
