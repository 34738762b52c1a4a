#include "addon.h"
#include "reply.h"
#include "session.h"

static const struct {
	const char *name;
	napi_callback fn;
} fb_exports[] = {
	{ "mount", fb_session_mount },
	{ "unmount", fb_session_unmount },
	{ "pending", fb_session_pending },
	{ "notifyInvalInode", fb_session_notify_inode },
	{ "notifyInvalEntry", fb_session_notify_entry },
	{ "replyErr", fb_reply_err },
	{ "replyOk", fb_reply_ok },
	{ "replyEntry", fb_reply_entry },
	{ "replyCreate", fb_reply_create },
	{ "replyAttr", fb_reply_attr },
	{ "replyReadlink", fb_reply_readlink },
	{ "replyOpen", fb_reply_open },
	{ "replyWrite", fb_reply_write },
	{ "replyBuf", fb_reply_buf },
	{ "replyStatfs", fb_reply_statfs },
	{ "replyReaddir", fb_reply_readdir },
	{ "replyReaddirplus", fb_reply_readdirplus },
};

napi_value fb_addon_init(napi_env env, napi_value exports)
{
	napi_value fn, version;
	size_t i;

	for (i = 0; i < sizeof(fb_exports) / sizeof(fb_exports[0]); i++) {
		NAPI_CALL(env, napi_create_function(env, fb_exports[i].name, NAPI_AUTO_LENGTH,
						    fb_exports[i].fn, NULL, &fn));
		NAPI_CALL(env, napi_set_named_property(env, exports, fb_exports[i].name, fn));
	}
	NAPI_CALL(env, napi_create_int32(env, fuse_version(), &version));
	NAPI_CALL(env, napi_set_named_property(env, exports, "libfuseVersion", version));
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, fb_addon_init)
