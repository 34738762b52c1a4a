#ifndef FB_REPLY_H
#define FB_REPLY_H

#include "convert.h"

napi_value fb_reply_err(napi_env env, napi_callback_info info);
napi_value fb_reply_ok(napi_env env, napi_callback_info info);
napi_value fb_reply_entry(napi_env env, napi_callback_info info);
napi_value fb_reply_create(napi_env env, napi_callback_info info);
napi_value fb_reply_attr(napi_env env, napi_callback_info info);
napi_value fb_reply_readlink(napi_env env, napi_callback_info info);
napi_value fb_reply_open(napi_env env, napi_callback_info info);
napi_value fb_reply_write(napi_env env, napi_callback_info info);
napi_value fb_reply_buf(napi_env env, napi_callback_info info);
napi_value fb_reply_statfs(napi_env env, napi_callback_info info);
napi_value fb_reply_readdir(napi_env env, napi_callback_info info);
napi_value fb_reply_readdirplus(napi_env env, napi_callback_info info);

#endif
