#ifndef FB_SESSION_H
#define FB_SESSION_H

#include "convert.h"
#include "init-io.h"
#include "notify.h"
#include "req.h"

#include <uv.h>

enum fb_state {
	FB_MOUNTED,	/* serving requests */
	FB_GONE,	/* the kernel side went away; waiting for unmount() */
	FB_CLOSED,	/* unmounted and destroyed; replies throw */
};

/*
 * One mount. Owned by a JS external: the finalizer frees it, so a reply
 * after unmount finds a closed session rather than freed memory.
 */
struct fb_session {
	/* Set by mount, constant afterwards. */
	napi_env env;
	bool want_readdirplus;
	bool want_writeback;
	unsigned max_write;
	unsigned max_read;

	/* JS thread only. */
	struct fuse_session *se;	/* NULL once destroyed */
	enum fb_state state;
	bool dispatching;		/* inside the poll callback: no close now */
	bool js_allowed;		/* false while finalizing: never call JS */
	bool cleanup_hook;		/* the env cleanup hook is registered */
	uv_poll_t *poll;		/* NULL once stopped; its close callback frees it */
	struct fuse_buf buf;		/* receive buffer, reused for every request */
	struct fuse_conn_info *conn;	/* libfuse's own; valid until fuse_session_destroy */
	bool init_pending;		/* init ran; JS has not been told yet */
	struct fb_init_watch init_watch;	/* see init-io.c */
	struct fb_req_table reqs;
	napi_ref cb_request;		/* request(op, id, ctx, ...args) */
	napi_ref cb_init;		/* init(info) */
	napi_ref cb_closed;		/* closed() */
	napi_ref cb_notified;		/* notified(ticket, result) */
	napi_async_context async_ctx;

	/* Shared with the notification worker; see notify.h. */
	struct fb_notifier notifier;
};

struct fb_session *fb_session_from(napi_env env, napi_value handle);
void fb_session_emit(struct fb_session *s, fuse_req_t req, enum fb_op op,
		     size_t size, struct fb_args *a);
void fb_session_emit_noreply(struct fb_session *s, const char *op, struct fb_args *a);
void fb_session_reply_eio(struct fb_session *s, double id);

napi_value fb_session_mount(napi_env env, napi_callback_info info);
napi_value fb_session_unmount(napi_env env, napi_callback_info info);
napi_value fb_session_pending(napi_env env, napi_callback_info info);
napi_value fb_session_notify_inode(napi_env env, napi_callback_info info);
napi_value fb_session_notify_entry(napi_env env, napi_callback_info info);

#endif
