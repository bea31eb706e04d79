#!/usr/bin/env bash
# Smoke-tests what packaging/macos/build.sh produced: the app in dist/ answers and opens the demo window
# offscreen; the .pkg installs silently (`installer`, as MDM does) into /Applications and the installed app
# answers too; the .dmg mounts and holds the same app. Needs sudo for `installer` (GitHub's runners have it).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
python=${SALUS_PYTHON:-$root/.venv/bin/python}
version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
scratch=$(mktemp -d)
mount=$scratch/mount
trap 'hdiutil detach "$mount" -quiet 2>/dev/null || true; rm -rf "$scratch"' EXIT
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

check() {
  local salus=$1 home
  home=$(mktemp -d "$scratch/home.XXXXXX")
  [[ $(env HOME="$home" "$salus" --version) == "salus $version" ]] || fail "$salus --version"
  [[ $(env HOME="$home" XDG_DATA_HOME="$home/data" QT_QPA_PLATFORM=offscreen "$salus" --demo --exit-when-ready) == ready ]] \
    || fail "$salus: the demo window did not come up"
  echo "smoke: $salus OK" >&2
}

check "$root/dist/Salus.app/Contents/MacOS/salus"
sudo installer -pkg "$root/dist/Salus-$version.pkg" -target /
check /Applications/Salus.app/Contents/MacOS/salus
[[ $(defaults read /Applications/Salus.app/Contents/Info.plist CFBundleShortVersionString) == "$version" ]] \
  || fail "Info.plist has the wrong version"
mkdir -p "$mount"
hdiutil attach "$root/dist/Salus-$version.dmg" -mountpoint "$mount" -nobrowse -quiet
check "$mount/Salus.app/Contents/MacOS/salus"
echo "smoke: all checks passed for Salus $version on macOS" >&2
