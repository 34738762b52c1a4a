#include "notify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum fb_notify_kind {
	FB_NOTIFY_INODE,
	FB_NOTIFY_ENTRY,
};

struct fb_notify_item {
	struct fb_notify_item *next;
	enum fb_notify_kind kind;
	fuse_ino_t ino;		/* the inode, or the parent for an entry */
	off_t off;
	off_t len;
	size_t namelen;
	double ticket;
	int result;		/* 0 or -errno from libfuse */
	char name[];
};

static void *fb_notify_main(void *arg)
{
	struct fb_notifier *n = arg;
	struct fb_notify_item *item;

	pthread_mutex_lock(&n->mu);
	for (;;) {
		while (!n->queue && !n->stop)
			pthread_cond_wait(&n->cv, &n->mu);
		if (n->stop)
			break;
		item = n->queue;
		n->queue = item->next;
		if (!n->queue)
			n->tail = NULL;
		pthread_mutex_unlock(&n->mu);

		if (item->kind == FB_NOTIFY_INODE)
			item->result = fuse_lowlevel_notify_inval_inode(n->se, item->ino,
									item->off, item->len);
		else
			item->result = fuse_lowlevel_notify_inval_entry(n->se, item->ino,
									item->name, item->namelen);

		pthread_mutex_lock(&n->mu);
		item->next = n->done;
		n->done = item;
		uv_async_send(n->async);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

static void fb_notify_on_async(uv_async_t *async)
{
	struct fb_notifier *n = async->data;
	struct fb_notify_item *list, *rev = NULL, *next;

	pthread_mutex_lock(&n->mu);
	list = n->done;
	n->done = NULL;
	pthread_mutex_unlock(&n->mu);

	/* `done` is newest first; report in the order they were queued. */
	for (; list; list = next) {
		next = list->next;
		list->next = rev;
		rev = list;
	}
	for (; rev; rev = next) {
		next = rev->next;
		n->done_fn(n->done_ctx, rev->ticket, rev->result);
		free(rev);
	}
}

static void fb_notify_free_handle(uv_handle_t *h)
{
	free(h);
}

int fb_notify_start(struct fb_notifier *n, uv_loop_t *loop, struct fuse_session *se,
		    fb_notify_done_fn done_fn, void *done_ctx)
{
	n->se = se;
	n->done_fn = done_fn;
	n->done_ctx = done_ctx;
	n->next_ticket = 1;
	n->queue = n->tail = n->done = NULL;
	n->stop = false;
	n->async = malloc(sizeof(*n->async));
	if (!n->async)
		return -ENOMEM;
	if (uv_async_init(loop, n->async, fb_notify_on_async) != 0)
		goto out_free;
	n->async->data = n;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	if (pthread_create(&n->thread, NULL, fb_notify_main, n) != 0)
		goto out_close;
	n->running = true;
	return 0;

out_close:
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	uv_close((uv_handle_t *) n->async, fb_notify_free_handle);
	n->async = NULL;
	return -EAGAIN;
out_free:
	free(n->async);
	n->async = NULL;
	return -ENOMEM;
}

static int fb_notify_push(struct fb_notifier *n, struct fb_notify_item *item, double *ticket)
{
	if (!n->running) {
		free(item);
		return -ENOTCONN;
	}
	item->next = NULL;
	item->ticket = *ticket = n->next_ticket++;
	pthread_mutex_lock(&n->mu);
	if (n->tail)
		n->tail->next = item;
	else
		n->queue = item;
	n->tail = item;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return 0;
}

int fb_notify_inode(struct fb_notifier *n, fuse_ino_t ino, off_t off, off_t len,
		    double *ticket)
{
	struct fb_notify_item *item = calloc(1, sizeof(*item));

	if (!item)
		return -ENOMEM;
	item->kind = FB_NOTIFY_INODE;
	item->ino = ino;
	item->off = off;
	item->len = len;
	return fb_notify_push(n, item, ticket);
}

int fb_notify_entry(struct fb_notifier *n, fuse_ino_t parent, const char *name,
		    size_t namelen, double *ticket)
{
	struct fb_notify_item *item = calloc(1, sizeof(*item) + namelen + 1);

	if (!item)
		return -ENOMEM;
	item->kind = FB_NOTIFY_ENTRY;
	item->ino = parent;
	item->namelen = namelen;
	memcpy(item->name, name, namelen);
	return fb_notify_push(n, item, ticket);
}

/*
 * Joins the worker; queued and unreported notifications are dropped (the
 * TS side settles their promises when the mount closes). If the worker is
 * stuck in the kernel, this waits until the kernel lets it go: the caller
 * drains the queue first, while requests are still being answered.
 */
void fb_notify_stop(struct fb_notifier *n)
{
	struct fb_notify_item *item, *next;

	if (!n->running)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->thread, NULL);
	n->running = false;

	for (item = n->queue; item; item = next) {
		next = item->next;
		free(item);
	}
	for (item = n->done; item; item = next) {
		next = item->next;
		free(item);
	}
	n->queue = n->tail = n->done = NULL;
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	uv_close((uv_handle_t *) n->async, fb_notify_free_handle);
	n->async = NULL;
}
