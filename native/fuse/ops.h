#ifndef FB_OPS_H
#define FB_OPS_H

#include "convert.h"

void fb_ops_fill(struct fuse_lowlevel_ops *ops, bool readdirplus);

#endif
