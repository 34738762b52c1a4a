#ifndef FB_ADDON_H
#define FB_ADDON_H

#include "convert.h"

napi_value fb_addon_init(napi_env env, napi_value exports);

#endif
