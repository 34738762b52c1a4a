/** Linux open(2) flags, as the kernel passes them to open/create. */
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;

/** How a file is opened, as FileClient open flags want it. */
export interface Access {
  read: boolean;
  write: boolean;
  append: boolean;
}

/** The access mode and append flag of open(2) `flags`. */
export function decodeAccess(flags: number): Access {
  const acc = flags & O_ACCMODE;
  return {
    read: acc !== O_WRONLY,
    write: acc === O_WRONLY || acc === O_RDWR,
    append: (flags & O_APPEND) !== 0,
  };
}
