#ifndef FB_INIT_IO_H
#define FB_INIT_IO_H

#include <stdbool.h>
#include <stdint.h>

struct fuse_custom_io;

/*
 * What our device I/O learns of the INIT exchange. INIT is read and answered on the JS thread
 * before any other request, so only that thread touches this.
 */
struct fb_init_watch {
	uint64_t unique;	/* of the INIT request, once read */
	bool pending;		/* INIT read, its reply not yet written */
	bool offered;		/* the kernel offered FUSE_PARALLEL_DIROPS */
	bool want_parallel;	/* the filesystem wants parallel lookups and readdirs */
};

/* Plain read(2)/writev(2) on /dev/fuse, but the INIT reply gets FUSE_PARALLEL_DIROPS (see init-io.c). */
extern const struct fuse_custom_io fb_init_io;

/* The watch of the session whose libfuse userdata is `userdata` (defined in session.c). */
struct fb_init_watch *fb_session_init_watch(void *userdata);

#endif
