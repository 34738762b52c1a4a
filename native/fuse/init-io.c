/*
 * libfuse 3.14 keeps FUSE_PARALLEL_DIROPS out of its INIT reply whatever the filesystem wants
 * (upstream passed it on from 3.16), so the kernel serializes every lookup and readdir of one
 * folder: listing many files of one folder waits a round trip per name, and during an outage
 * each lookup waits for the one before it to time out. The device I/O below is libfuse's own
 * read and writev, except that it notes the INIT request and sets the flag in the reply when the
 * kernel offered it. The VFS answers lookups and readdirs of one folder concurrently already.
 */
#include "init-io.h"

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t fb_io_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t res = read(fd, buf, len);
	struct fuse_in_header in;
	struct fuse_init_in init;

	if (res >= (ssize_t) (sizeof(in) + 16)) {
		memcpy(&in, buf, sizeof(in));
		if (in.opcode == FUSE_INIT) {
			struct fb_init_watch *w = fb_session_init_watch(userdata);

			/* major, minor, max_readahead, flags: the first 16 bytes are in every version. */
			memcpy(&init, (char *) buf + sizeof(in), 16);
			w->unique = in.unique;
			w->pending = true;
			w->offered = (init.flags & FUSE_PARALLEL_DIROPS) != 0;
		}
	}
	return res;
}

static ssize_t fb_io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fb_init_watch *w = fb_session_init_watch(userdata);
	struct fuse_out_header out;

	/* libfuse sends the header in iov[0] and the reply's argument in iov[1]. */
	if (w->pending && count >= 2 && iov[0].iov_len >= sizeof(out)) {
		memcpy(&out, iov[0].iov_base, sizeof(out));
		if (out.unique == w->unique) {
			w->pending = false;
			if (out.error == 0 && w->offered && w->want_parallel && iov[1].iov_len >= 16) {
				uint32_t flags;

				memcpy(&flags, (char *) iov[1].iov_base + 12, sizeof(flags));
				flags |= FUSE_PARALLEL_DIROPS;
				memcpy((char *) iov[1].iov_base + 12, &flags, sizeof(flags));
			}
		}
	}
	return writev(fd, iov, count);
}

const struct fuse_custom_io fb_init_io = {
	.writev = fb_io_writev,
	.read = fb_io_read,
};
