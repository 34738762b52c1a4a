/**
 * The POSIX sh shims `rmount stubs` writes. Pure: rendering and recognising them.
 *
 * A shim passes its arguments on as "$@", never spliced into a string. Inside the mount it runs
 * `rmount-exec --in <mountpoint> --map-args -- <cmd> "$@"` (the native client, build/rmount-exec)
 * when that file is there and executable, else `rmount exec` with the same arguments through
 * Node, the slower start-up; outside it runs the local command of
 * the same name found on PATH (skipping rmount shims, so two stub folders never call each other),
 * else says why it cannot and exits 127. It uses only sh builtins after the first line, so a
 * stub folder holding shims named `grep` or `pwd` cannot recurse into itself.
 */
import { quoteArg } from '../remote/shell-quote.ts';

/** The second line of every shim; `--remove` deletes only files that carry it. */
export const SHIM_MARKER = '# rmount-stub: written by `rmount stubs`; `rmount stubs --remove` deletes it';

/** What a shim needs to know. */
export interface ShimSpec {
  /** The command name on the remote (and the shim's file name). */
  command: string;
  /** The mountpoint as recorded, and as getcwd shows it (parent symlinks resolved), if different. */
  mountpoint: string;
  physicalMountpoint?: string;
  /** How to run rmount, absolute paths: the node binary and bin/rmount, or one executable. */
  launcher: readonly string[];
  /** Pass --rewrite-output to rmount exec. */
  rewriteOutput?: boolean;
  /**
   * Absolute path of the native client (rmount-exec) the shim runs inside the mount when it is
   * an executable file at run time; the launcher otherwise. Undefined or '': always the launcher.
   */
  execClient?: string;
}

/** True for a name that can be a shim file name: no slash, no control character, not . or .. */
export function validCommandName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name !== '' && name !== '.' && name !== '..' && !/[/\x00-\x1f\x7f]/.test(name);
}

/** The shim's text. */
export function renderShim(spec: ShimSpec): string {
  const mnt = quoteArg(spec.mountpoint);
  const phys = quoteArg(spec.physicalMountpoint ?? spec.mountpoint);
  const execFlags = spec.rewriteOutput === true ? '--map-args --rewrite-output' : '--map-args';
  const native = spec.execClient === undefined || spec.execClient === '' ? '' : `rmount_client=${quoteArg(spec.execClient)}
`;
  const nativeRun = native === '' ? '' : `  if [ -f "$rmount_client" ] && [ -x "$rmount_client" ]; then
    exec "$rmount_client" --in "$rmount_mnt" ${execFlags} -- "$rmount_cmd" "$@"
  fi
`;
  return `#!/bin/sh
${SHIM_MARKER}
rmount_mnt=${mnt}
rmount_phys=${phys}
rmount_cmd=${quoteArg(spec.command)}
${native}rmount_inside() {
  case "$1/" in "$rmount_mnt"/*|"$rmount_phys"/*) return 0 ;; esac
  return 1
}
if rmount_inside "$PWD" || rmount_inside "$(pwd -P)"; then
${nativeRun}  exec ${spec.launcher.map(quoteArg).join(' ')} exec --in "$rmount_mnt" ${execFlags} -- "$rmount_cmd" "$@"
fi
# Outside the mount: the local command of the same name, if there is one that is not a shim.
set -f
rmount_ifs=$IFS
IFS=:
for rmount_d in $PATH; do
  IFS=$rmount_ifs
  rmount_f="\${rmount_d:-.}/$rmount_cmd"
  if [ -f "$rmount_f" ] && [ -x "$rmount_f" ]; then
    rmount_l2=
    { read -r rmount_l1; read -r rmount_l2; } < "$rmount_f" 2>/dev/null
    [ "$rmount_l2" = ${quoteArg(SHIM_MARKER)} ] || { set +f; exec "$rmount_f" "$@"; }
  fi
done
echo "rmount stub: $rmount_cmd runs on the remote only inside $rmount_mnt (here: $PWD), and there is no local $rmount_cmd on PATH" >&2
exit 127
`;
}

/** The mountpoint a shim's text was written for, or undefined when it is not an rmount shim. */
export function shimMountpoint(text: string): string | undefined {
  if (text.split('\n', 2)[1] !== SHIM_MARKER) return undefined;
  const m = /^rmount_mnt=('(?:[^']|'\\'')*'|[^\s']+)$/m.exec(text);
  return m === null ? undefined : unquote(m[1]!);
}

/** Reverses quoteArg for the forms it produces. */
function unquote(text: string): string {
  if (!text.startsWith("'")) return text;
  return text.slice(1, -1).replace(/'\\''/g, "'");
}
