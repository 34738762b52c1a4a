{
  'targets': [{
    'target_name': 'fuse_binding',
    'sources': [
      'native/fuse/addon.c',
      'native/fuse/convert.c',
      'native/fuse/init-io.c',
      'native/fuse/notify.c',
      'native/fuse/ops.c',
      'native/fuse/reply.c',
      'native/fuse/req.c',
      'native/fuse/session.c',
    ],
    'defines': ['NAPI_VERSION=8', '_GNU_SOURCE', '_FILE_OFFSET_BITS=64'],
    'cflags': ['-std=c11', '-Wall', '-Wextra', '<!@(sh native/fuse/check-libfuse.sh --cflags)'],
    'libraries': ['<!@(sh native/fuse/check-libfuse.sh --libs)'],
  }, {
    # utimensat/futimens with exact nanoseconds and pre-1970 times for the local backend.
    'target_name': 'posix_binding',
    'sources': ['native/posix/posix.c', 'native/posix/detach.c'],
    'defines': ['NAPI_VERSION=8', '_GNU_SOURCE', '_FILE_OFFSET_BITS=64', '_TIME_BITS=64'],
    'cflags': ['-std=c11', '-Wall', '-Wextra'],
  }],
}
