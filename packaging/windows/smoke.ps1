# Smoke-tests what build.ps1 produced, the way IT deploys it: the bundle answers, the MSI installs silently
# per machine, the installed salus.exe opens the demo window offscreen, the policy templates and the locked-down
# %ProgramData%\Salus are there, and a silent uninstall removes the program (and leaves users' profiles alone).
# Must run elevated (msiexec per-machine) in PowerShell 7 (pwsh); the GitHub Windows runners are.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = Resolve-Path (Join-Path $PSScriptRoot '..\..')
Set-Location $root
$python = if ($env:SALUS_PYTHON) { $env:SALUS_PYTHON } else { Join-Path $root '.venv\Scripts\python.exe' }
$version = & $python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])"
$msi = Resolve-Path "dist\Salus-$version-x64.msi"

function Invoke-Salus([string]$exe, [string[]]$arguments) {
    $base = if ($env:RUNNER_TEMP) { $env:RUNNER_TEMP } else { $env:TEMP }
    $scratch = Join-Path $base ("salus-smoke-" + [guid]::NewGuid())
    New-Item -ItemType Directory $scratch | Out-Null
    $env:QT_QPA_PLATFORM = 'offscreen'
    $env:XDG_DATA_HOME = $scratch   # the demo profile goes here, not into the runner's profile
    $out = & $exe @arguments
    if ($LASTEXITCODE -ne 0) { throw "$exe $arguments exited $LASTEXITCODE" }
    return $out
}

function Test-Salus([string]$exe) {
    $said = Invoke-Salus $exe @('--version')
    if ($said -ne "salus $version") { throw "$exe --version said '$said'" }
    $ready = Invoke-Salus $exe @('--demo', '--exit-when-ready')
    if ($ready -ne 'ready') { throw "$exe --demo --exit-when-ready said '$ready'" }
    Write-Host "smoke: $exe OK"
}

Test-Salus (Resolve-Path 'dist\salus\salus.exe')

$log = Join-Path $root 'build\msi-install.log'
$p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @('/i', "`"$msi`"", '/qn', '/norestart', '/l*v', "`"$log`"")
if ($p.ExitCode -ne 0) { throw "msiexec /i exited $($p.ExitCode); see $log" }
$installed = Join-Path $env:ProgramFiles 'Salus'
Test-Salus (Join-Path $installed 'salus.exe')
if (-not (Test-Path (Join-Path $installed 'salusw.exe'))) { throw 'salusw.exe is not installed' }
$shortcut = Join-Path $env:ProgramData 'Microsoft\Windows\Start Menu\Programs\Salus.lnk'
if (-not (Test-Path $shortcut)) { throw 'No all-users Start-menu shortcut' }
if ((Get-ItemProperty 'HKLM:\SOFTWARE\Salus').Version -ne $version) { throw 'HKLM\SOFTWARE\Salus has the wrong version' }
if (Test-Path 'packaging\windows\policy\*.admx') {
    if (-not (Test-Path (Join-Path $installed 'policy\*.admx'))) { throw 'The ADMX templates are not installed' }
}
$acl = Get-Acl (Join-Path $env:ProgramData 'Salus')
if (-not $acl.AreAccessRulesProtected) { throw '%ProgramData%\Salus inherits the ProgramData ACL' }
$usersWrite = $acl.Access | Where-Object {
    $_.IdentityReference -match 'Users$' -and ($_.FileSystemRights -band [Security.AccessControl.FileSystemRights]::Write)
}
if ($usersWrite) { throw 'Users can write to %ProgramData%\Salus' }

$p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @('/x', "`"$msi`"", '/qn', '/norestart')
if ($p.ExitCode -ne 0) { throw "msiexec /x exited $($p.ExitCode)" }
if (Test-Path (Join-Path $installed 'salus.exe')) { throw 'salus.exe is still installed after msiexec /x' }
Write-Host "smoke: all checks passed for salus $version on Windows"
