#ifndef FB_NOTIFY_H
#define FB_NOTIFY_H

#include "convert.h"

#include <pthread.h>
#include <uv.h>

struct fb_notify_item;

/* Called on the JS thread for each finished notification. */
typedef void (*fb_notify_done_fn)(void *ctx, double ticket, int result);

/*
 * Kernel cache invalidations run on their own thread. The kernel handles
 * FUSE_NOTIFY_INVAL_* by taking the inode's locks, and a process that
 * holds them may be waiting for our reply to a request; since requests are
 * answered on the JS thread, a notification written from that thread could
 * wait for itself forever. The worker may block; the JS thread never does.
 */
struct fb_notifier {
	struct fuse_session *se;	/* set by start; the worker uses it until joined */
	fb_notify_done_fn done_fn;	/* set by start; JS thread */
	void *done_ctx;			/* set by start; JS thread */
	pthread_t thread;		/* JS thread */
	bool running;			/* JS thread */
	uv_async_t *async;		/* JS thread; the worker only sends on it */
	double next_ticket;		/* JS thread */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* wakes the worker: work or stop */
	struct fb_notify_item *queue;	/* mu: waiting, oldest first */
	struct fb_notify_item *tail;	/* mu */
	struct fb_notify_item *done;	/* mu: finished, newest first */
	bool stop;			/* mu */
};

int fb_notify_start(struct fb_notifier *n, uv_loop_t *loop, struct fuse_session *se,
		    fb_notify_done_fn done_fn, void *done_ctx);
int fb_notify_inode(struct fb_notifier *n, fuse_ino_t ino, off_t off, off_t len,
		    double *ticket);
int fb_notify_entry(struct fb_notifier *n, fuse_ino_t parent, const char *name,
		    size_t namelen, double *ticket);
void fb_notify_stop(struct fb_notifier *n);

#endif
