package main

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// errnoNames names the errno values a file operation may fail with. A slice rather than a map:
// several names share a value on some systems (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP), and the
// first entry wins.
var errnoNames = []struct {
	errno syscall.Errno
	name  string
}{
	{syscall.ENOENT, "ENOENT"},
	{syscall.EEXIST, "EEXIST"},
	{syscall.ENOTDIR, "ENOTDIR"},
	{syscall.EISDIR, "EISDIR"},
	{syscall.ENOTEMPTY, "ENOTEMPTY"},
	{syscall.EACCES, "EACCES"},
	{syscall.EPERM, "EPERM"},
	{syscall.EXDEV, "EXDEV"},
	{syscall.EINVAL, "EINVAL"},
	{syscall.ENOSYS, "ENOSYS"},
	{syscall.ENOTSUP, "ENOTSUP"},
	{syscall.EOPNOTSUPP, "ENOTSUP"},
	{syscall.EBADF, "EBADF"},
	{syscall.ENAMETOOLONG, "ENAMETOOLONG"},
	{syscall.ELOOP, "ELOOP"},
	{syscall.ENOSPC, "ENOSPC"},
	{syscall.EDQUOT, "EDQUOT"},
	{syscall.EROFS, "EROFS"},
	{syscall.EBUSY, "EBUSY"},
	{syscall.EMLINK, "EMLINK"},
	{syscall.EFBIG, "EFBIG"},
	{syscall.ETXTBSY, "ETXTBSY"},
	{syscall.EAGAIN, "EAGAIN"},
	{syscall.ERANGE, "ERANGE"},
	{syscall.EMFILE, "EMFILE"},
	{syscall.ENFILE, "EMFILE"},
	{syscall.ENXIO, "ENXIO"},
	{syscall.ESTALE, "ESTALE"},
	{syscall.EOVERFLOW, "EOVERFLOW"},
	{syscall.ESPIPE, "ESPIPE"},
	{syscall.EFAULT, "EFAULT"},
	{syscall.EINTR, "EINTR"},
	{syscall.EIO, "EIO"},
	{syscall.ENOTCONN, "ENOTCONN"},
	{syscall.ETIMEDOUT, "ETIMEDOUT"},
}

// errnoName is the errno name of err: the wrapped syscall.Errno when there is one, else the
// closest meaning of Go's own errors; EIO when nothing fits.
func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		for _, e := range errnoNames {
			if e.errno == errno {
				return e.name
			}
		}
		return "EIO"
	}
	switch {
	case errors.Is(err, errBadHandle), errors.Is(err, os.ErrClosed):
		return "EBADF"
	case errors.Is(err, errBadMessage):
		return "EINVAL"
	case errors.Is(err, errUnsupported):
		return "ENOTSUP"
	case errors.Is(err, fs.ErrNotExist):
		return "ENOENT"
	case errors.Is(err, fs.ErrExist):
		return "EEXIST"
	case errors.Is(err, fs.ErrPermission):
		return "EACCES"
	case errors.Is(err, fs.ErrInvalid):
		return "EINVAL"
	}
	return "EIO"
}

// statusCode is the v3 status code OpenSSH's sftp-server sends for an errno (errno_to_portable),
// so that clients that ignore the message still read the failure as they would from OpenSSH.
func statusCode(name string) uint32 {
	switch name {
	case "ENOENT", "ENOTDIR", "EBADF", "ELOOP":
		return fxNoSuchFile
	case "EPERM", "EACCES", "EFAULT":
		return fxPermissionDenied
	case "ENAMETOOLONG", "EINVAL":
		return fxBadMessage
	case "ENOSYS", "ENOTSUP":
		return fxOpUnsupported
	}
	return fxFailure
}
