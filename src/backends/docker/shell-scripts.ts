/**
 * The scripts of the agentless Docker FileClient (run by shell-pool.ts, or by `sh -c` for a
 * write fed from stdin), one per operation that needs more than one tool. Paths reach them only
 * as positional parameters ("$1"), never spliced into the text.
 * A script that knows the errno prints `rmount-errno:NAME` on stderr and exits 3 (see E).
 */

const ERR = 'E() { printf "rmount-errno:%s\\n" "$1" >&2; exit 3; }; ';
// ash words ENOENT and ENOTDIR of a redirection alike ("nonexistent directory"): P tells them
// apart by the nearest ancestor of "$1" that exists.
const NOTDIR = 'P() { p=$1; while case $p in */?*) p=${p%/*}; [ -n "$p" ];; *) false;; esac; do if [ -e "$p" ]; then [ -d "$p" ] || E ENOTDIR; return 0; fi; done; }; ';

/** Every script, by the operation it serves. */
export const SCRIPTS = {
  readdir: `${ERR}cd -- "$1" 2>/dev/null || { if [ -d "$1" ]; then E EACCES; elif [ -e "$1" ]; then E ENOTDIR; else E ENOENT; fi; }
printf '%s\\0' .* *; printf '\\0'; stat -c "$2" -- .* * 2>/dev/null; exit 0`,
  unlink: `${ERR}if [ -d "$1" ] && [ ! -L "$1" ]; then E EISDIR; fi; exec rm -- "$1"`,
  rename: `${ERR}if [ "$3" = n ] && { [ -e "$2" ] || [ -L "$2" ]; }; then E EEXIST; fi
[ -e "$1" ] || [ -L "$1" ] || E ENOENT
if [ -d "$2" ] && [ ! -L "$2" ]; then if [ ! -d "$1" ] || [ -L "$1" ]; then E EISDIR; fi
elif [ -e "$2" ] || [ -L "$2" ]; then if [ -d "$1" ] && [ ! -L "$1" ]; then E ENOTDIR; fi; fi
if [ "$3" = n ]; then mv -n -T -- "$1" "$2" || exit; if [ -e "$1" ] || [ -L "$1" ]; then E EEXIST; fi; else exec mv -f -T -- "$1" "$2"; fi`,
  symlink: `${ERR}if [ -e "$2" ] || [ -L "$2" ]; then E EEXIST; fi; exec ln -s -- "$1" "$2"`,
  link: `${ERR}if [ -e "$2" ] || [ -L "$2" ]; then E EEXIST; fi; [ -e "$1" ] || [ -L "$1" ] || E ENOENT
if [ -d "$1" ] && [ ! -L "$1" ]; then E EPERM; fi; exec ln -- "$1" "$2"`,
  readlink: `${ERR}[ -L "$1" ] || { if [ -e "$1" ]; then E EINVAL; fi; stat -c %n -- "$1" >/dev/null || exit; E ENOENT; }; exec readlink "$1"`,
  realpath: `${ERR}[ -e "$1" ] || { stat -L -c %n -- "$1" >/dev/null || exit; E ENOENT; }; exec readlink -f "$1"`,
  // $1 path, $2 '' | c (create) | x (create exclusive), $3 umask for the new file, $4 t = truncate,
  // $5 stat format, $6 final permission bits of a new file.
  open: `${ERR}${NOTDIR}if [ -n "$2" ]; then
  if [ "$2" = x ]; then if [ -e "$1" ] || [ -L "$1" ]; then E EEXIST; fi; set -C; fi
  new=; if [ ! -e "$1" ]; then new=1; fi
  if [ -d "$1" ]; then E EISDIR; fi
  if [ "$2" = x ] || [ "$4" = t ]; then (umask "$3"; : > "$1") || { P "$1"; exit 4; }; else (umask "$3"; : >> "$1") || { P "$1"; exit 4; }; fi
  if [ -n "$new" ]; then chmod "$6" "$1" || exit 4; fi
elif [ "$4" = t ]; then
  stat -L -c %n -- "$1" >/dev/null || exit 4
  if [ -d "$1" ]; then E EISDIR; fi
  : > "$1" || exit 4
fi
stat -L -c "$5" -- "$1" || exit 4; readlink -f "$1"`,
  // $1 path, $2 mode, $3 uid, $4 gid, $5 size, $6 atime, $7 mtime ('' = leave, 'now', or 'SEC.NSEC'), $8 h = no-follow.
  setattr: `${ERR}[ -e "$1" ] || [ -L "$1" ] || { stat -c %n -- "$1" >/dev/null || exit; E ENOENT; }
H=; if [ "$8" = h ] && [ -L "$1" ]; then H=-h; fi
if [ -n "$5" ]; then if [ -n "$H" ]; then E EINVAL; fi; if [ -d "$1" ]; then E EISDIR; fi; truncate -s "$5" "$1" || exit; fi
if [ -n "$3" ] && [ -n "$4" ]; then chown $H "$3:$4" "$1" || exit; elif [ -n "$3" ]; then chown $H "$3" "$1" || exit; elif [ -n "$4" ]; then chgrp $H "$4" "$1" || exit; fi
if [ -n "$2" ]; then if [ -n "$H" ]; then E ENOTSUP; fi; chmod "$2" "$1" || exit; fi
t() { if [ "$2" = now ]; then touch -c $H "$1" "$3"; else touch -c $H "$1" -d "@$2" "$3" 2>/dev/null || touch -c $H "$1" -d "@\${2%.*}" "$3"; fi; }
if [ -n "$6" ]; then t -a "$6" "$1" || exit; fi
if [ -n "$7" ]; then t -m "$7" "$1" || exit; fi
exit 0`,
  write: 'cat > "$1"',
  // $2: the content as a printf format (shell-pool.ts printfFormat), for the one empty argument.
  put: 'printf "$2" "" > "$1"',
  // $2: the most bytes to read, one more than the caller takes from a shell.
  read: 'exec head -c "$2" -- "$1"',
  sync: 'sync "$1" 2>/dev/null || sync',
  probe: 'umask; if touch --version 2>/dev/null | grep -q GNU; then echo gnu; else echo other; fi',
} as const;
