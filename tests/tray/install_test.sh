#!/bin/sh
# tests/tray/install_test.sh BUILD_DIR SRC_DIR: the install rules (what
# ./run install runs) into a temp prefix: binaries, icons in the hicolor
# theme, the systemd user unit pointing at the installed binary, the XDG
# autostart entry of the tray, the man page (which man(1) renders without
# warnings); the manifest lists them all, so that uninstall removes all.
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
p=$tmp/prefix
CABSYNC_AUTOSTART_DIR=$tmp/config/autostart cmake --install "$build" --prefix "$p" \
	>"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; fail "cmake --install"; }
for f in bin/cabsync bin/cabsync-tray share/man/man1/cabsync.1 \
	share/systemd/user/cabsync.service; do
	[ -f "$p/$f" ] || fail "$f not installed"
done
[ -x "$p/bin/cabsync-tray" ] || fail "cabsync-tray not executable"
for s in synced syncing offline local conflict error; do
	[ -f "$p/share/icons/hicolor/scalable/status/cabsync-$s.svg" ] || fail "$s.svg"
	[ -f "$p/share/icons/hicolor/48x48/status/cabsync-$s.png" ] || fail "$s.png"
	[ "$(identify -format %wx%h "$p/share/icons/hicolor/48x48/status/cabsync-$s.png")" = 48x48 ] ||
		fail "$s.png is not 48x48"
done
grep -qx "ExecStart=$p/bin/cabsync agent --home %h/.local/share/cabsync" \
	"$p/share/systemd/user/cabsync.service" || fail "unit: ExecStart not the installed binary"
grep -qx "WantedBy=default.target" "$p/share/systemd/user/cabsync.service" || fail "unit"
d=$tmp/config/autostart/cabsync-tray.desktop
[ -f "$d" ] || fail "autostart entry not installed"
grep -qx "Exec=$p/bin/cabsync-tray" "$d" || fail "desktop: Exec"
grep -qx "Type=Application" "$d" || fail "desktop: Type"
grep -qx "Icon=cabsync-synced" "$d" || fail "desktop: Icon"
"$p/bin/cabsync-tray" --help | grep -q "state-file" || fail "cabsync-tray --help"
if command -v man >/dev/null 2>&1; then
	w=$(MANWIDTH=80 man --warnings -l "$p/share/man/man1/cabsync.1" 2>&1 >/dev/null)
	[ -z "$w" ] || fail "man page warnings: $w"
fi
for f in $(cat "$build/install_manifest.txt"); do
	[ -e "$f" ] || fail "manifest lists $f, not installed"
done
grep -q "cabsync-tray.desktop$" "$build/install_manifest.txt" || fail "manifest: desktop"
grep -q "cabsync.service$" "$build/install_manifest.txt" || fail "manifest: unit"
echo ok
