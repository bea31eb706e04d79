#!/usr/bin/env bash
# Builds the macOS installers from packaging/salus.spec: dist/Salus.app, then
#   dist/Salus-<version>.pkg   a component package installing /Applications/Salus.app (for MDM / `installer`)
#   dist/Salus-<version>.dmg   a disk image with Salus.app and a link to /Applications (for people)
#
# Signing and notarisation run only when their identities are given; without them the outputs are unsigned
# but otherwise identical ("signed-ready"), which is what CI builds:
#   SALUS_APP_IDENTITY="Developer ID Application: Example Clinic IT (TEAMID)"
#   SALUS_INSTALLER_IDENTITY="Developer ID Installer: Example Clinic IT (TEAMID)"
#   SALUS_NOTARY_PROFILE=salus-notary   (made once with: xcrun notarytool store-credentials salus-notary
#                                         --apple-id ... --team-id TEAMID --password <app-specific password>)
# Needs: Xcode command line tools (pkgbuild, productbuild, hdiutil, codesign), Python 3.11+ with Salus and its
# dev extra in .venv (or SALUS_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
python=${SALUS_PYTHON:-$root/.venv/bin/python}
version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
identifier=org.salus.client  # the bundle id, also the managed-preferences domain of the policy
app=$root/dist/Salus.app
echo "build: Salus $version for macOS" >&2

"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$root/dist" --workpath "$root/build/pyinstaller" packaging/salus.spec
said=$("$app/Contents/MacOS/salus" --version)
[[ $said == "salus $version" ]] || { echo "build: the app says '$said', expected 'salus $version'" >&2; exit 1; }

if [[ -n ${SALUS_APP_IDENTITY:-} ]]; then
  # Hardened runtime (required for notarisation) with the entitlements an embedded CPython needs.
  codesign --force --deep --options runtime --timestamp \
    --entitlements packaging/macos/entitlements.plist --sign "$SALUS_APP_IDENTITY" "$app"
  codesign --verify --deep --strict --verbose=2 "$app"
else
  echo "build: SALUS_APP_IDENTITY not set: Salus.app is not signed" >&2
fi

pkg=$root/dist/Salus-$version.pkg
component=$root/build/Salus-component.pkg
mkdir -p "$root/build"
pkgbuild --component "$app" --install-location /Applications --identifier "$identifier" --version "$version" \
  "$component"
sign_pkg=()
[[ -n ${SALUS_INSTALLER_IDENTITY:-} ]] && sign_pkg=(--sign "$SALUS_INSTALLER_IDENTITY" --timestamp)
productbuild --package "$component" ${sign_pkg[@]+"${sign_pkg[@]}"} "$pkg"  # bash 3.2-safe empty array

dmg=$root/dist/Salus-$version.dmg
staging=$root/build/dmg
rm -rf "$staging" "$dmg"
mkdir -p "$staging"
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
hdiutil create -volname "Salus $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg" >/dev/null
[[ -n ${SALUS_APP_IDENTITY:-} ]] && codesign --sign "$SALUS_APP_IDENTITY" --timestamp "$dmg"

if [[ -n ${SALUS_NOTARY_PROFILE:-} ]]; then
  for artefact in "$pkg" "$dmg"; do
    xcrun notarytool submit "$artefact" --keychain-profile "$SALUS_NOTARY_PROFILE" --wait
    xcrun stapler staple "$artefact"
  done
else
  echo "build: SALUS_NOTARY_PROFILE not set: not notarised (Gatekeeper will warn on other Macs)" >&2
fi
echo "build: $pkg and $dmg" >&2
