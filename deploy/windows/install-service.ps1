<#
.SYNOPSIS
  Installs wincrid as the Windows service "wincri" (run as Administrator).

.DESCRIPTION
  Copies wincrid.exe to C:\Program Files\wincri, places the configuration under
  C:\ProgramData\wincri (keeping an existing config.json unless -Force), creates the
  service with `sc.exe create wincri ... start= auto` running as LocalSystem, restarts it
  on failure, and starts it. The daemon serves CRI on npipe:////./pipe/wincri, which only
  SYSTEM and Administrators may open; point kubelet at it (deploy/windows/kubelet-flags.md).
  The service logs to C:\ProgramData\wincri\wincrid.log.

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
$ServiceName = "wincri"

function Assert-Admin {
    $id = [Security.Principal.WindowsIdentity]::GetCurrent()
    $p = New-Object Security.Principal.WindowsPrincipal($id)
    if (-not $p.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw "run this script from an elevated (Administrator) PowerShell"
    }
}

function Invoke-Sc {
    & sc.exe @args
    if ($LASTEXITCODE -ne 0) { throw "sc.exe $($args -join ' ') failed with exit code $LASTEXITCODE" }
}

function Remove-WincriService {
    $svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if (-not $svc) { return }
    if ($svc.Status -ne "Stopped") {
        Stop-Service -Name $ServiceName -Force
        $svc.WaitForStatus("Stopped", (New-TimeSpan -Seconds 60))
    }
    Invoke-Sc delete $ServiceName
}

Assert-Admin

if ($Uninstall) {
    Remove-WincriService
    Write-Host "service $ServiceName removed; $DataDir (state, images, logs) left in place"
    exit 0
}

$features = Get-WindowsOptionalFeature -Online -FeatureName Containers -ErrorAction SilentlyContinue
if ($features -and $features.State -ne "Enabled") {
    Write-Warning "the Windows feature 'Containers' is not enabled; wincrid starts but reports RuntimeReady=false (Enable-WindowsOptionalFeature -Online -FeatureName Containers)"
}

if (-not (Test-Path $Binary)) { throw "wincrid.exe not found at $Binary (use -Binary)" }
New-Item -ItemType Directory -Force -Path $InstallDir, $DataDir | Out-Null

# The configuration: given file, else the embedded defaults written out once.
$exe = Join-Path $InstallDir "wincrid.exe"
Remove-WincriService
Copy-Item -Force $Binary $exe
$configPath = Join-Path $DataDir "config.json"
if ($Config) {
    if ((Test-Path $configPath) -and -not $Force) {
        throw "$configPath exists; pass -Force to replace it"
    }
    Copy-Item -Force $Config $configPath
} elseif (-not (Test-Path $configPath)) {
    & $exe --print-default-config | Set-Content -Encoding ascii $configPath
    if ($LASTEXITCODE -ne 0) { throw "wincrid --print-default-config failed" }
}
# The daemon checks the config at start: a refused one shows in wincrid.log and in
# `sc.exe query wincri` as service-specific exit code 2.

# The state directory holds secrets (registry auth, pod specs): SYSTEM and Administrators only.
& icacls.exe $DataDir /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" | Out-Null

$binPath = "`"$exe`" --config `"$configPath`""
Invoke-Sc create $ServiceName binPath= $binPath start= auto obj= LocalSystem DisplayName= "wincri CRI runtime"
Invoke-Sc description $ServiceName "Kubernetes CRI runtime (runtime.v1) over HCS and HCN; serves npipe:////./pipe/wincri"
# Restart after a crash: 5 s, 10 s, then every 30 s; the failure count resets after a day.
Invoke-Sc failure $ServiceName reset= 86400 actions= restart/5000/restart/10000/restart/30000
Start-Service -Name $ServiceName
(Get-Service -Name $ServiceName).WaitForStatus("Running", (New-TimeSpan -Seconds 60))
Write-Host "service $ServiceName running; config $configPath, log $(Join-Path $DataDir 'wincrid.log')"
Write-Host "kubelet: --container-runtime-endpoint=npipe:////./pipe/wincri (see kubelet-flags.md)"
