#!/usr/bin/env bash
# Builds the Linux installer: the PyInstaller onedir bundle (dist/salus/), then a Debian package
# (dist/salus_<version>_<arch>.deb) from it with dpkg-deb. Run from anywhere; paths are relative to the repository.
#
#   packaging/linux/build.sh            build both (measured on 2 cores shared with other builds: 35-40 s for
#                                       PyInstaller, 15-60 s for the .deb; 204 MB bundle, 82 MB .deb)
#   SALUS_PYTHON=/path/python ...       use another Python that has Salus and PyInstaller installed
#
# The package lays out:
#   /opt/salus/                  the bundle (salus + _internal/)
#   /usr/bin/salus               -> /opt/salus/salus
#   /usr/share/applications/salus.desktop
#   /etc/salus/                  where IT puts policy.json (DESIGN.md §10); policy.example.json beside it lists
#                                every key at its default and is a conffile, never read by Salus
#   /usr/share/doc/salus/        copyright, the IT guide, the policy schema and examples (resources/policy)
# Profiles are per user (~/.local/share/salus) and are never touched by installing or removing the package.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
python=${SALUS_PYTHON:-$root/.venv/bin/python}

version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(dpkg --print-architecture)
echo "build: salus $version for $arch" >&2

start=$SECONDS
"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$root/dist" --workpath "$root/build/pyinstaller" packaging/salus.spec
echo "build: PyInstaller bundle in dist/salus ($((SECONDS - start)) s)" >&2

# The bundle must answer before it is packaged: a broken freeze should fail here, not at the customer.
bundled=$("$root/dist/salus/salus" --version)
[[ $bundled == "salus $version" ]] || { echo "build: the bundle says '$bundled', expected 'salus $version'" >&2; exit 1; }

stage=$root/build/deb/salus_${version}_${arch}
rm -rf "$stage"
install -d -m 0755 "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
  "$stage/usr/share/doc/salus" "$stage/etc/salus"
cp -a "$root/dist/salus" "$stage/opt/salus"
ln -s /opt/salus/salus "$stage/usr/bin/salus"
install -m 0644 packaging/linux/salus.desktop "$stage/usr/share/applications/salus.desktop"
install -m 0644 LICENSE "$stage/usr/share/doc/salus/copyright"
install -m 0644 docs/it-guide.md "$stage/usr/share/doc/salus/it-guide.md"
install -m 0755 packaging/linux/postinst packaging/linux/postrm "$stage/DEBIAN/"
# The policy schema and examples (resources/policy), for IT to start a /etc/salus/policy.json from.
if [[ -d resources/policy ]]; then
  cp -R resources/policy "$stage/usr/share/doc/salus/policy"
  chmod -R u=rwX,go=rX "$stage/usr/share/doc/salus/policy"
fi

# The example lists every managed key at its default, produced by the bundle itself so it always matches the
# schema it was built with. It is named .example so that installing the package never imposes a policy.
"$root/dist/salus/salus" policy show --json \
  | "$python" -c 'import json, sys; d = json.load(sys.stdin)["settings"]; print(json.dumps({k: v["value"] for k, v in d.items()}, indent=2))' \
  > "$stage/etc/salus/policy.example.json"
chmod 0644 "$stage/etc/salus/policy.example.json"
echo /etc/salus/policy.example.json > "$stage/DEBIAN/conffiles"

installed_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$installed_kib/" \
  packaging/linux/control.in > "$stage/DEBIAN/control"

# --root-owner-group makes every file root:root without fakeroot (dpkg >= 1.19). gzip, because every dpkg reads
# it and it takes about 13 s here (84 MB); xz -6 saves a quarter of the size but took over 3 minutes on two
# shared cores. SALUS_DEB_COMPRESSION=xz for a release build on a bigger machine.
dpkg-deb --root-owner-group -Z"${SALUS_DEB_COMPRESSION:-gzip}" --build "$stage" \
  "$root/dist/salus_${version}_${arch}.deb" >/dev/null
echo "build: dist/salus_${version}_${arch}.deb ($((SECONDS - start)) s in all)" >&2
