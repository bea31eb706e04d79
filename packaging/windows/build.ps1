# Builds the Windows installer: the PyInstaller bundle (dist\salus\, with salus.exe for the command line and
# salusw.exe for the Start menu), then a per-machine MSI with WiX Toolset v4 (dist\Salus-<version>-x64.msi).
#
# Needs: 64-bit Python 3.11+ with Salus installed for development (`py -3.11 -m venv .venv;
# .venv\Scripts\python -m pip install -e .[dev]`), and the .NET SDK 6+ for the WiX tool, which this script
# installs as a local dotnet tool if it is missing:
#     dotnet tool install --global wix --version 4.0.5
#
#   pwsh -ExecutionPolicy Bypass -File packaging\windows\build.ps1      (PowerShell 7)
#
# Signing (not done here): `signtool sign /fd SHA256 /tr <timestamp URL> /td SHA256 /f <cert> dist\salus\*.exe`
# before `wix build`, and the MSI after; see docs/it-guide.md.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = Resolve-Path (Join-Path $PSScriptRoot '..\..')
Set-Location $root
$python = if ($env:SALUS_PYTHON) { $env:SALUS_PYTHON } else { Join-Path $root '.venv\Scripts\python.exe' }

$version = & $python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])"
if ($LASTEXITCODE -ne 0) { throw 'Cannot read the version from pyproject.toml' }
Write-Host "build: salus $version for Windows x64"

& $python -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build\pyinstaller packaging\salus.spec
if ($LASTEXITCODE -ne 0) { throw 'PyInstaller failed' }

# The bundle must answer before it is packaged.
$said = & .\dist\salus\salus.exe --version
if ($said -ne "salus $version") { throw "The bundle says '$said', expected 'salus $version'" }

& $python packaging\windows\harvest.py dist\salus packaging\windows\policy build\wix
if ($LASTEXITCODE -ne 0) { throw 'Harvesting the bundle failed' }

if (-not (Get-Command wix -ErrorAction SilentlyContinue)) {
    dotnet tool install --global wix --version 4.0.5
    $env:PATH += ";$env:USERPROFILE\.dotnet\tools"
}
# MSI versions are major.minor.build with numbers only; a PEP 440 suffix (".dev1", "rc1") is cut off.
$msiVersion = ($version -replace '[^0-9.].*$', '').TrimEnd('.')
$msi = "dist\Salus-$version-x64.msi"
wix build -arch x64 -d "Version=$msiVersion" -d "BundleDir=$root\dist\salus" -o $msi `
    packaging\windows\Salus.wxs build\wix\Files.wxs build\wix\PolicyTemplates.wxs
if ($LASTEXITCODE -ne 0) { throw 'wix build failed' }
Write-Host "build: $msi"
