<#
.SYNOPSIS
  Installs wincrid as the Windows service "wincri" by hand (run as Administrator): puts the
  files in place, then lets `wincrid.exe service ...` do the service control manager's part.

.DESCRIPTION
  Copies wincrid.exe to C:\Program Files\wincri (stopping the service first when it runs),
  places the configuration at C:\ProgramData\wincri\config.json (keeping an existing one
  unless -Force; the embedded defaults when there is none), checks it with --check-config,
  limits C:\ProgramData\wincri to SYSTEM and Administrators, and then runs

    wincrid.exe service install --config C:\ProgramData\wincri\config.json   (if not installed)
    wincrid.exe service start

  The service (delayed automatic start, restart on failure, events in the Application log,
  its log at C:\ProgramData\wincri\wincrid.log) is wincrid.exe's to set up: see
  `wincrid.exe service --help` and README.md, "Windows service". -Uninstall runs
  `wincrid.exe service uninstall`, which stops and removes the service and leaves the state,
  config and log in place.

.EXAMPLE
  .\install-service.ps1 -Binary .\wincrid.exe
  .\install-service.ps1 -Binary .\wincrid.exe -Config .\my-config.json -Force
  .\install-service.ps1 -Uninstall
#>
[CmdletBinding()]
param(
    [string]$Binary = ".\wincrid.exe",
    [string]$Config = "",
    [string]$InstallDir = "$env:ProgramFiles\wincri",
    [string]$DataDir = "$env:ProgramData\wincri",
    [switch]$Force,
    [switch]$Uninstall
)

$ErrorActionPreference = "Stop"
$exe = Join-Path $InstallDir "wincrid.exe"
$configPath = Join-Path $DataDir "config.json"

function Assert-Admin {
    $id = [Security.Principal.WindowsIdentity]::GetCurrent()
    $p = New-Object Security.Principal.WindowsPrincipal($id)
    if (-not $p.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw "run this script from an elevated (Administrator) PowerShell"
    }
}

# wincrid.exe service exit codes: 0 done, 1 failed, 2 usage or config, 3 not running,
# 4 not installed, 5 already installed.
function Wincrid([int[]]$ok) {
    & $exe @args
    if ($ok -notcontains $LASTEXITCODE) {
        throw "wincrid.exe $($args -join ' ') failed with exit code $LASTEXITCODE"
    }
}

Assert-Admin

if ($Uninstall) {
    if (-not (Test-Path $exe)) { throw "$exe not found: nothing to uninstall with" }
    Wincrid @(0, 4) service uninstall
    exit 0
}

if (-not (Test-Path $Binary)) { throw "wincrid.exe not found at $Binary (use -Binary)" }
New-Item -ItemType Directory -Force -Path $InstallDir, $DataDir | Out-Null

# A running service holds the binary: stop it before replacing it.
if (Test-Path $exe) { Wincrid @(0, 4) service stop }
Copy-Item -Force $Binary $exe

if ($Config) {
    if ((Test-Path $configPath) -and -not $Force) {
        throw "$configPath exists; pass -Force to replace it"
    }
    Copy-Item -Force $Config $configPath
} elseif (-not (Test-Path $configPath)) {
    & $exe --print-default-config | Set-Content -Encoding ascii $configPath
    if ($LASTEXITCODE -ne 0) { throw "wincrid --print-default-config failed" }
}
Wincrid @(0) "--check-config" "--config" $configPath

# The state directory holds secrets (registry auth, pod specs): SYSTEM and Administrators only.
& icacls.exe $DataDir /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" | Out-Null

& $exe service status *> $null
if ($LASTEXITCODE -eq 4) { Wincrid @(0) service install "--config" $configPath }
Wincrid @(0) service start
Write-Host "kubelet: --container-runtime-endpoint=npipe:////./pipe/wincri (see kubelet-flags.md)"
