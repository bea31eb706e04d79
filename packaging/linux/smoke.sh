#!/usr/bin/env bash
# Smoke-tests what packaging/linux/build.sh produced, twice: the bundle in dist/salus/, and the .deb unpacked into
# a scratch root with `dpkg -x` (run from there through its /usr/bin/salus link). Each time it checks that
#   - `salus --version` prints the version in pyproject.toml;
#   - `salus --demo --exit-when-ready` opens the real window offscreen on a fresh demo profile and says "ready";
#   - a new profile can be created (SQLCipher, Argon2id), an OpenPGP key imported through the system's gpg
#     (python-gnupg in the bundle), and the audit chain verified;
#   - (the bundle, where Dovecot is installed) a real IMAP sync over TLS and a search
#     (tests/support/frozen_sync_check.py);
# and for the package, that it depends on gnupg, that a GnuPG placed in its install directory is preferred to the
# system's, and that its policy example is a policy Salus accepts.
# Exits non-zero at the first failure. Nothing is written outside a temporary directory it removes.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
root=$PWD
python=${SALUS_PYTHON:-$root/.venv/bin/python}
version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(dpkg --print-architecture)
deb=$root/dist/salus_${version}_${arch}.deb

scratch=$(mktemp -d "${TMPDIR:-/tmp}/salus-smoke.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

# A clean environment per run: no user settings, no profile, no policy, no display but Qt's offscreen one.
run_salus() {
  local home=$1; shift
  env -i PATH=/usr/bin:/bin HOME="$home" XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config" \
    LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen "$@"
}

make_key() {
  local gnupg=$scratch/keygen
  install -d -m 0700 "$gnupg"
  gpg --homedir "$gnupg" --batch --quiet --passphrase '' --quick-gen-key 'Smoke Test <smoke@example.org>' ed25519 sign never \
    2>/dev/null
  gpg --homedir "$gnupg" --batch --armor --export smoke@example.org > "$scratch/smoke.asc"
  gpg --homedir "$gnupg" --batch --with-colons --list-keys smoke@example.org 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }'
  gpgconf --homedir "$gnupg" --kill all 2>/dev/null || true
}

check_salus() {
  local salus=$1 label=$2
  local home=$scratch/home-$label
  mkdir -p "$home"

  local said
  said=$(run_salus "$home" "$salus" --version) || fail "$label: --version exited $?"
  [[ $said == "salus $version" ]] || fail "$label: --version said '$said', expected 'salus $version'"

  local started=$SECONDS
  said=$(run_salus "$home" timeout 180 "$salus" --demo --exit-when-ready 2>"$home/demo.err") \
    || { cat "$home/demo.err" >&2; fail "$label: the demo window did not come up (exit $?)"; }
  [[ $said == "ready" ]] || fail "$label: the demo printed '$said' instead of 'ready'"
  [[ -f $home/data/salus/demo/vault.db ]] || fail "$label: no demo vault was created"
  echo "smoke: $label: the demo window was ready after $((SECONDS - started)) s" >&2

  local profile=$home/profile
  run_salus "$home" env SALUS_PASSPHRASE=smoke-passphrase "$salus" --profile "$profile" profile create >/dev/null \
    || fail "$label: profile create"
  run_salus "$home" env SALUS_PASSPHRASE=smoke-passphrase "$salus" --profile "$profile" keys import "$scratch/smoke.asc" \
    >/dev/null || fail "$label: keys import (is gpg usable?)"
  run_salus "$home" env SALUS_PASSPHRASE=smoke-passphrase "$salus" --profile "$profile" keys list --json \
    | grep -q "$fingerprint" || fail "$label: the imported key is not listed"
  run_salus "$home" env SALUS_PASSPHRASE=smoke-passphrase "$salus" --profile "$profile" audit verify >/dev/null \
    || fail "$label: audit verify"
  echo "smoke: $label: version, demo window, profile, OpenPGP import and audit chain OK" >&2
}

[[ -x dist/salus/salus ]] || fail "no dist/salus/salus: run packaging/linux/build.sh first"
[[ -f $deb ]] || fail "no $deb: run packaging/linux/build.sh first"
fingerprint=$(make_key)
[[ $fingerprint =~ ^[0-9A-F]{40}$ ]] || fail "could not make a test key with the system's gpg"

check_salus "$root/dist/salus/salus" bundle
# A real sync over TLS through the frozen program (its spawned parse worker included) needs Dovecot, which
# scripts/bootstrap installs for the test suite; elsewhere (the GitHub installer job) it is skipped, and says so.
if [[ -x /usr/sbin/dovecot ]]; then
  "$python" -m tests.support.frozen_sync_check "$root/dist/salus/salus" || fail "bundle: sync through the frozen program"
else
  echo "smoke: no Dovecot here: the frozen sync check is skipped" >&2
fi

depends=$(dpkg-deb -f "$deb" Depends)
[[ $depends == *"gnupg"* ]] || fail "the package does not depend on gnupg: $depends"
[[ $(dpkg-deb -f "$deb" Version) == "$version" ]] || fail "the package version is not $version"
unpacked=$scratch/root
dpkg -x "$deb" "$unpacked"
# The maintainer scripts would change this machine's /etc, so they are only parsed here, not run.
dpkg-deb -e "$deb" "$scratch/control"
for script in postinst postrm; do
  sh -n "$scratch/control/$script" || fail "$script does not parse"
done
grep -qx /etc/salus/policy.example.json "$scratch/control/conffiles" || fail "the policy example is not a conffile"
link=$(readlink "$unpacked/usr/bin/salus")
[[ $link == /opt/salus/salus ]] || fail "/usr/bin/salus points to '$link'"
[[ -f $unpacked/usr/share/applications/salus.desktop ]] || fail "no .desktop file"
[[ -f $unpacked/opt/salus/_internal/resources/portal/index.html ]] || fail "resources/ is not in the bundle"
[[ -f $unpacked/usr/share/doc/salus/it-guide.md ]] || fail "the IT guide is not in the package"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$unpacked/usr/share/applications/salus.desktop" || fail "the .desktop file is invalid"
fi
check_salus "$unpacked$link" deb

# A GnuPG shipped in the install directory (<install>/gnupg/bin/gpg, docs/it-guide.md section 7) is preferred to
# the one on PATH: a gpg there that logs its calls and runs the system's must be the one the program uses.
bundled_gpg=$unpacked/opt/salus/gnupg/bin
mkdir -p "$bundled_gpg"
printf '#!/bin/sh\necho called >> "%s/calls.log"\nexec /usr/bin/gpg "$@"\n' "$bundled_gpg" > "$bundled_gpg/gpg"
chmod 0755 "$bundled_gpg/gpg"
ln -s /usr/bin/gpgconf "$bundled_gpg/gpgconf"
home=$scratch/home-bundled-gpg
run_salus "$home" env SALUS_PASSPHRASE=smoke-passphrase "$unpacked$link" --profile "$home/profile" profile create >/dev/null \
  || fail "bundled gpg: profile create"
run_salus "$home" env SALUS_PASSPHRASE=smoke-passphrase "$unpacked$link" --profile "$home/profile" keys import \
  "$scratch/smoke.asc" >/dev/null || fail "bundled gpg: keys import"
grep -q called "$bundled_gpg/calls.log" 2>/dev/null || fail "the GnuPG in the install directory was not used"
echo "smoke: deb: a GnuPG in the install directory is the one used" >&2

example=$unpacked/etc/salus/policy.example.json
run_salus "$scratch" env SALUS_POLICY_FILE="$example" "$unpacked$link" policy show --json >/dev/null \
  || fail "the package's policy example is refused"
echo "smoke: all checks passed for salus $version" >&2
