"""
The random mix of issue 13 for bench/mount-workloads.ts: small reads, writes, truncates and
writes through a shared mapping, at random places in one file, one after another, each read
checked against what the file must hold. A mount that loses or reorders a write fails the run
instead of giving a time.

  python3 bench/random-mix.py init PATH SIZE SEED       writes the starting contents (untimed)
  python3 bench/random-mix.py run PATH OPS SEED SIZE    the mix; prints {"seconds": S, "ops": {kind: {count, seconds}}}

`run` rebuilds the starting contents from SIZE and SEED rather than reading the file, so no page
of it is in the cache before the clock starts. After the timed part the whole file is read back
and compared (untimed). Exit 3 on a mismatch.
"""
import json
import mmap
import os
import random
import sys
import time

PAGE = mmap.PAGESIZE
MAX_IO = 8192


def start_contents(size, seed):
    return bytearray(random.Random(seed).randbytes(size))


def fail(message):
    sys.stderr.write(f'random-mix: {message}\n')
    sys.exit(3)


def mix(path, ops, seed, size):
    shadow = start_contents(size, seed)
    # Up to twice the starting size, so writes past the end and truncates both grow and shrink it.
    limit = 2 * size
    rand = random.Random(seed + 1)
    fd = os.open(path, os.O_RDWR)
    counts = {'read': 0, 'write': 0, 'truncate': 0, 'mmap-write': 0}
    spent = dict.fromkeys(counts, 0.0)
    start = time.perf_counter()
    for i in range(ops):
        began = time.perf_counter()
        pick = rand.random()
        if pick < 0.35:
            off = rand.randrange(0, limit)
            n = rand.randint(1, MAX_IO)
            got = os.pread(fd, n, off)
            if got != bytes(shadow[off:off + n]):
                fail(f'op {i}: read of {n} at {off} differs (file {len(shadow)} bytes)')
            kind = 'read'
        elif pick < 0.70 or (pick >= 0.80 and len(shadow) == 0):
            off = rand.randrange(0, limit)
            data = rand.randbytes(rand.randint(1, MAX_IO))
            if os.pwrite(fd, data, off) != len(data):
                fail(f'op {i}: short write at {off}')
            if off > len(shadow):
                shadow.extend(bytes(off - len(shadow)))
            shadow[off:off + len(data)] = data
            kind = 'write'
        elif pick < 0.80:
            new = rand.randrange(0, limit)
            os.ftruncate(fd, new)
            if new < len(shadow):
                del shadow[new:]
            else:
                shadow.extend(bytes(new - len(shadow)))
            kind = 'truncate'
        else:
            off = rand.randrange(0, len(shadow))
            n = min(rand.randint(1, MAX_IO), len(shadow) - off)
            data = rand.randbytes(n)
            base = off - off % PAGE
            m = mmap.mmap(fd, off + n - base, offset=base)
            m[off - base:off - base + n] = data
            # No msync: the kernel writes the page back when it will, as for most programs that
            # map a file; the fsync at the end makes every target pay for what is still dirty.
            m.close()
            shadow[off:off + n] = data
            kind = 'mmap-write'
        counts[kind] += 1
        spent[kind] += time.perf_counter() - began
    synced = time.perf_counter()
    os.fsync(fd)
    seconds = time.perf_counter() - start
    whole = os.pread(fd, limit + MAX_IO, 0)
    os.close(fd)
    if whole != bytes(shadow):
        at = next((i for i, (a, b) in enumerate(zip(whole, shadow)) if a != b), min(len(whole), len(shadow)))
        fail(f'after the mix the file ({len(whole)} bytes) differs from what was written ({len(shadow)} bytes) at byte {at}')
    by_kind = {k: {'count': counts[k], 'seconds': round(spent[k], 3)} for k in counts}
    by_kind['fsync'] = {'count': 1, 'seconds': round(seconds - (synced - start), 3)}
    print(json.dumps({'seconds': seconds, 'ops': by_kind}))


def main(argv):
    if len(argv) == 4 and argv[0] == 'init':
        path, size, seed = argv[1], int(argv[2]), int(argv[3])
        with open(path, 'wb') as f:
            f.write(start_contents(size, seed))
    elif len(argv) == 5 and argv[0] == 'run':
        mix(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == '__main__':
    main(sys.argv[1:])
