#ifndef PX_POSIX_H
#define PX_POSIX_H

/*
 * How a time crosses from JS (src/backends/local/posix.ts says the same):
 * whole seconds as an integral number (negative before 1970, |sec| <= 2^53,
 * where JS numbers stop being exact) and nanoseconds 0..999999999, or one of
 * these markers in place of the nanoseconds, which makes the seconds unused.
 */
#define PX_NSEC_OMIT	(-1)	/* UTIME_OMIT: leave this time as it is */
#define PX_NSEC_NOW	(-2)	/* UTIME_NOW: the file system's current time */

#endif
