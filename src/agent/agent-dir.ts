/**
 * Where the agent may live on a remote. rmount checks the agent's SHA-256 once and then runs it
 * by path on every connect and reconnect, so whoever can change the folder between those moments
 * can run code as the login. A folder is used only when no one but the login (and root) can change
 * what a path inside it names:
 *
 * - the folder is a real folder (not a symbolic link), owned by the login's uid, and neither its
 *   group nor others may write it (OpenSSH's StrictModes asks the same of ~/.ssh);
 * - every folder above it is owned by root or the login, and is not writable by group or others
 *   unless it has the sticky bit (as /tmp), so no one else can rename it away and put their own in
 *   its place;
 * - a missing folder is made with mode 0700.
 *
 * Shared places therefore carry the login's uid in their name (`/tmp/.rmount-{uid}`): a stranger
 * who makes that name first does not get the agent, the login gets a message naming the folder.
 * The checks run on the remote, inside the same `sh -c` that picks the folder (one round trip),
 * in shell that busybox ash and dash both run: modes and owners come from `ls -ldn`, since
 * `stat -c` and `[ -O ]` are not everywhere.
 */

/** Stands for the login's numeric uid in a candidate folder; the remote fills it in. */
export const UID_PLACEHOLDER = '{uid}';

/**
 * Shell functions and settings for the probe scripts. After them, `uid` holds the login's uid
 * (empty when it cannot be told) and:
 * - `ad_expand PATH` sets `e` to PATH with `~/` made the home and `{uid}` the uid;
 * - `ad_use DIR` makes DIR when missing, then sets `r` to its real path and returns 0 when it is
 *   safe, or sets `why` to the reason (tab-separated fields, see {@link describeRefusal}) and
 *   returns 1;
 * - `ad_file_ok FILE` says whether FILE is a regular file of the login's that no one else can
 *   write, i.e. whether a copy already there may be trusted.
 */
export const AGENT_DIR_FNS = `set -f
T=$(printf '\\t')
uid=$(id -u 2>/dev/null)
if [ -z "$uid" ] && [ -r /proc/self/status ]; then
  while read -r k v _; do if [ "$k" = Uid: ]; then uid=$v; break; fi; done < /proc/self/status
fi
ad_expand() {
  e=$1
  case $e in "~/"*) e="$HOME/\${e#"~/"}" ;; esac
  while :; do case $e in *"{uid}"*) e="\${e%%"{uid}"*}$uid\${e#*"{uid}"}" ;; *) break ;; esac; done
}
ad_ls() {
  set -- $(ls -ldn "$1" 2>/dev/null)
  [ $# -ge 3 ] || return 1
  perm=$1; own=$3
}
ad_leaf() {
  ad_ls "$1" || { why=GONE; return 1; }
  case $perm in d*) ;; *) why=NOTDIR; return 1 ;; esac
  [ "$own" = "$uid" ] || { why="OWNER$T$own"; return 1; }
  case $perm in ?????w*|????????w*) why="MODE$T$perm"; return 1 ;; esac
}
ad_above() {
  a=$1
  while [ "$a" != / ]; do
    a=\${a%/*}; a=\${a:-/}
    ad_ls "$a" || { why="ABOVE$T$a$T?$T?"; return 1; }
    case $own in 0|"$uid") ;; *) why="ABOVE$T$a$T$own$T$perm"; return 1 ;; esac
    case $perm in ?????????[tT]*) ;; ?????w*|????????w*) why="ABOVE$T$a$T$own$T$perm"; return 1 ;; esac
  done
}
ad_use() {
  why=; r=
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then
    case $1 in */*) p=\${1%/*}; p=\${p:-/} ;; *) p=. ;; esac
    o=$( { mkdir -p "$p" && umask 077 && mkdir "$1"; } 2>&1 ) || [ -d "$1" ] || { why="MKDIR$T\${o##*: }"; return 1; }
  fi
  if [ -L "$1" ]; then why=LINK; return 1; fi
  [ -d "$1" ] || { why=NOTDIR; return 1; }
  ad_leaf "$1" || return 1
  r=$(cd "$1" 2>/dev/null && pwd -P) || { why=NOCD; return 1; }
  ad_leaf "$r" && ad_above "$r"
}
ad_file_ok() {
  [ ! -L "$1" ] && ad_ls "$1" && [ "$own" = "$uid" ] || return 1
  case $perm in -????[!w]??[!w]*) return 0 ;; esac
  return 1
}`;

/** A candidate folder the probe refused, and why, in words. */
export interface Refusal {
  readonly dir: string;
  readonly reason: string;
}

/**
 * The mode bits of an `ls -l` permission string (`drwxrwxrwt` → 0o1777), for messages.
 */
export function permsMode(perms: string): number {
  let mode = 0;
  for (let i = 0; i < 9; i++) {
    const c = perms[i + 1] ?? '-';
    if (c !== '-' && c !== 'S' && c !== 'T') mode |= 1 << (8 - i);
  }
  if (/^...[sS]/.test(perms)) mode |= 0o4000;
  if (/^......[sS]/.test(perms)) mode |= 0o2000;
  if (/^.........[tT]/.test(perms)) mode |= 0o1000;
  return mode;
}

function octal(perms: string): string {
  return permsMode(perms).toString(8).padStart(4, '0');
}

/**
 * The words for a `why` of the probe script (its tab-separated fields), e.g.
 * `['OWNER', '65534']` → "owned by uid 65534, not by the login (uid 1000)".
 */
export function describeRefusal(fields: readonly string[], uid: string): string {
  const [kind, a = '', b = '', c = ''] = fields;
  switch (kind) {
    case 'LINK': return 'a symbolic link';
    case 'NOTDIR': return 'not a folder';
    case 'GONE': return 'vanished while it was checked';
    case 'NOCD': return 'cannot be entered';
    case 'OWNER': return `owned by uid ${a}, not by the login (uid ${uid})`;
    case 'MODE': return `mode ${octal(a)} lets ${/^.{8}w/.test(a) ? 'others' : 'its group'} write`;
    case 'ABOVE':
      if (b === '?') return `${a} above it cannot be inspected`;
      if (b !== '0' && b !== uid) return `${a} above it is owned by uid ${b}, who could rename it away`;
      return `${a} above it has mode ${octal(c)} without the sticky bit, so others could rename it away`;
    case 'MKDIR': return `cannot be created${a === '' ? '' : ` (${a})`}`;
    case 'NOWRITE': return 'cannot be written';
    case 'NOEXEC': return 'mounted noexec';
    default: return fields.join(' ');
  }
}

/**
 * The refusals in a probe's output: lines `REFUSED\t<folder>\t<why…>`, after a line `UID\t<uid>`.
 */
export function readRefusals(out: string): Refusal[] {
  let uid = '?';
  const refused: Refusal[] = [];
  for (const line of out.split('\n')) {
    const [key, dir = '', ...why] = line.split('\t');
    if (key === 'UID') uid = dir;
    else if (key === 'REFUSED') refused.push({ dir, reason: describeRefusal(why, uid) });
  }
  return refused;
}

/** "dir: reason; dir: reason", for an error message. */
export function formatRefusals(refused: readonly Refusal[]): string {
  return refused.map(r => `${r.dir}: ${r.reason}`).join('; ');
}

/** What to do about refused folders, for `PermissionError`'s suggestion. */
export const REFUSED_SUGGESTION = 'remove or fix the folder: it must be a real folder of the login\'s own that group and others cannot write (0700), inside folders that only root or the login can write (or sticky ones like /tmp); or pass an exact path with `rmount agent push --to`';
