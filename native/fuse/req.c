#include "req.h"

#include <stdlib.h>

/*
 * A request id is `index + gen * 2^20`: the index finds the slot in O(1),
 * and the generation makes an id die with its reply, even after the slot
 * has been reused. Both fit a double exactly (gen < 2^32).
 */
#define FB_REQ_INDEX_BITS	20
#define FB_REQ_MAX		(1u << FB_REQ_INDEX_BITS)
#define FB_REQ_NONE		UINT32_MAX

static const char *const fb_op_names[FB_OP_COUNT] = {
	[FB_OP_LOOKUP] = "lookup",
	[FB_OP_GETATTR] = "getattr",
	[FB_OP_SETATTR] = "setattr",
	[FB_OP_READLINK] = "readlink",
	[FB_OP_MKNOD] = "mknod",
	[FB_OP_MKDIR] = "mkdir",
	[FB_OP_UNLINK] = "unlink",
	[FB_OP_RMDIR] = "rmdir",
	[FB_OP_SYMLINK] = "symlink",
	[FB_OP_RENAME] = "rename",
	[FB_OP_LINK] = "link",
	[FB_OP_OPEN] = "open",
	[FB_OP_READ] = "read",
	[FB_OP_WRITE] = "write",
	[FB_OP_FLUSH] = "flush",
	[FB_OP_RELEASE] = "release",
	[FB_OP_FSYNC] = "fsync",
	[FB_OP_OPENDIR] = "opendir",
	[FB_OP_READDIR] = "readdir",
	[FB_OP_READDIRPLUS] = "readdirplus",
	[FB_OP_RELEASEDIR] = "releasedir",
	[FB_OP_FSYNCDIR] = "fsyncdir",
	[FB_OP_STATFS] = "statfs",
	[FB_OP_ACCESS] = "access",
	[FB_OP_CREATE] = "create",
};

const char *fb_op_name(enum fb_op op)
{
	return op < FB_OP_COUNT ? fb_op_names[op] : "?";
}

static int fb_req_grow(struct fb_req_table *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 64;
	struct fb_req_slot *slots;
	uint32_t i;

	if (t->cap >= FB_REQ_MAX)
		return -1;
	if (cap > FB_REQ_MAX)
		cap = FB_REQ_MAX;
	slots = realloc(t->slots, cap * sizeof(*slots));
	if (!slots)
		return -1;
	for (i = t->cap; i < cap; i++) {
		slots[i].req = NULL;
		slots[i].gen = 1;	/* id 0 stays free for forget and destroy */
		slots[i].next_free = i + 1 < cap ? i + 1 : t->free_head;
	}
	t->free_head = t->cap;
	t->slots = slots;
	t->cap = cap;
	return 0;
}

int fb_req_register(struct fb_req_table *t, fuse_req_t req, enum fb_op op,
		    size_t size, double *id)
{
	struct fb_req_slot *slot;
	uint32_t idx;

	if (t->cap == 0)
		t->free_head = FB_REQ_NONE;
	if (t->free_head == FB_REQ_NONE && fb_req_grow(t) != 0)
		return -1;
	idx = t->free_head;
	slot = &t->slots[idx];
	t->free_head = slot->next_free;
	slot->req = req;
	slot->op = op;
	slot->size = size;
	t->pending++;
	*id = (double) idx + (double) slot->gen * (double) FB_REQ_MAX;
	return 0;
}

/* The pending slot for `id`, or NULL when the id is unknown or answered. */
struct fb_req_slot *fb_req_find(struct fb_req_table *t, double id)
{
	uint64_t n, idx;
	struct fb_req_slot *slot;

	if (!(id >= 0) || id >= 9007199254740992.0 || id != (double) (uint64_t) id)
		return NULL;
	n = (uint64_t) id;
	idx = n & (FB_REQ_MAX - 1);
	if (idx >= t->cap)
		return NULL;
	slot = &t->slots[idx];
	if (slot->req == NULL || slot->gen != (uint32_t) (n >> FB_REQ_INDEX_BITS))
		return NULL;
	return slot;
}

fuse_req_t fb_req_release(struct fb_req_table *t, struct fb_req_slot *slot)
{
	fuse_req_t req = slot->req;

	slot->req = NULL;
	slot->gen++;
	slot->next_free = t->free_head;
	t->free_head = (uint32_t) (slot - t->slots);
	t->pending--;
	return req;
}

/*
 * After fuse_session_unmount the device fd is closed and the kernel has
 * failed these requests already: free them without writing a reply.
 */
void fb_req_drop_all(struct fb_req_table *t)
{
	uint32_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slots[i].req)
			fuse_reply_none(fb_req_release(t, &t->slots[i]));
}

void fb_req_free(struct fb_req_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = 0;
	t->pending = 0;
	t->free_head = FB_REQ_NONE;
}
