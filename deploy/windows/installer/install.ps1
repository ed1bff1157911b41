<#
.SYNOPSIS
  Installs or upgrades wincrid on this node; run by the wincri-installer DaemonSet
  (deploy/kubernetes/installer.yaml) as a HostProcess container (NT AUTHORITY\SYSTEM).

.DESCRIPTION
  The image carries \wincri\wincrid.exe, \wincri\config.json (a default) and this script;
  the wincri-config ConfigMap, when present, is mounted at \etc\wincri\config.json and wins.
  Both live under $env:CONTAINER_SANDBOX_MOUNT_POINT.

  1. Checks the new binary with the new config (wincrid.exe --check-config) before anything
     on the node changes.
  2. If the installed wincrid.exe reports the same --version, the installed config has the
     same bytes and the service runs: nothing to do.
  3. Otherwise keeps the installed pair as wincrid.exe.previous / config.json.previous, stops
     the service, puts the new pair in place, installs the service if it was not there,
     starts it and waits until the service runs and \\.\pipe\wincri exists. If that fails it
     puts the previous pair back, starts it, and exits non-zero (the pod restarts and tries
     again; the rollout stops at this node because the pod never becomes ready).
  4. Writes C:\ProgramData\wincri\installer\<pod>.ready (the readiness probe's file) and
     sleeps.

  The service is wincrid.exe's own `service` command (cri/service.h; README.md, "Windows
  service"): `service install --config PATH` registers the service "wincri" running
  "<that wincrid.exe> --config PATH"; `service start` returns once the service is running
  (exit 1 when it stopped while starting, e.g. a refused config); `service stop` returns once
  it has stopped (exit 0 when it was not running); `service status` exits 0 only while it
  runs.

  Still assumed (not in this tree yet; README.md, "Operating wincri"): stopping the service
  loses no container, log line or exit status (restart without loss).
#>
$ErrorActionPreference = "Stop"

$ServiceName = "wincri"
$Pipe = "\\.\pipe\wincri"
$InstallDir = Join-Path $env:ProgramFiles "wincri"
$DataDir = Join-Path $env:ProgramData "wincri"
$ReadyDir = Join-Path $DataDir "installer"
$Exe = Join-Path $InstallDir "wincrid.exe"
$Config = Join-Path $DataDir "config.json"
$StartTimeoutSeconds = 120

function Log([string]$msg) {
    Write-Host ("{0} wincri-installer node={1}: {2}" -f (Get-Date -Format o), $env:NODE_NAME, $msg)
}

# Runs wincrid.exe; returns its exit code and its output (stdout and stderr). Windows
# PowerShell turns a native command's stderr lines into errors once 2>&1 redirects them, which
# "Stop" would make fatal: here they are output.
function Run-Wincrid([string]$exe, [string[]]$arguments) {
    $ErrorActionPreference = "Continue"
    $out = & $exe @arguments 2>&1 | ForEach-Object { "$_" } | Out-String
    return @{ Exit = $LASTEXITCODE; Output = $out.Trim() }
}

function Invoke-Wincrid([string]$exe, [string[]]$arguments) {
    $r = Run-Wincrid $exe $arguments
    if ($r.Exit -ne 0) {
        throw "$exe $($arguments -join ' ') failed (exit $($r.Exit)): $($r.Output)"
    }
    return $r.Output
}

function Wait-Serving([string]$exe) {
    $deadline = (Get-Date).AddSeconds($StartTimeoutSeconds)
    while ((Get-Date) -lt $deadline) {
        & $exe service status *> $null
        if ($LASTEXITCODE -eq 0 -and (Test-Path $Pipe)) { return $true }
        Start-Sleep -Seconds 2
    }
    return $false
}

function Same-File([string]$a, [string]$b) {
    if (-not (Test-Path $a) -or -not (Test-Path $b)) { return $false }
    return (Get-FileHash $a).Hash -eq (Get-FileHash $b).Hash
}

$src = $env:CONTAINER_SANDBOX_MOUNT_POINT
if (-not $src) { throw "CONTAINER_SANDBOX_MOUNT_POINT is not set: run this as a HostProcess container" }
$newExe = Join-Path $src "wincri\wincrid.exe"
$newConfig = Join-Path $src "etc\wincri\config.json"
if (-not (Test-Path $newConfig)) { $newConfig = Join-Path $src "wincri\config.json" }
$ready = Join-Path $ReadyDir "$env:POD_NAME.ready"

New-Item -ItemType Directory -Force -Path $InstallDir, $DataDir, $ReadyDir | Out-Null
Get-ChildItem $ReadyDir -Filter *.ready | Remove-Item -Force

# 1. Nothing changes on the node unless the new pair agrees with itself.
Invoke-Wincrid $newExe @("--check-config", "--config", $newConfig) | Out-Null
$want = Invoke-Wincrid $newExe @("--version")
$have = if (Test-Path $Exe) { Invoke-Wincrid $Exe @("--version") } else { "" }
$svc = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
Log "image has '$want' with $newConfig; node has '$have', service $(if ($svc) { $svc.Status } else { 'not installed' })"

if ($svc -and $svc.Status -eq "Running" -and $have -eq $want -and (Same-File $Config $newConfig)) {
    Log "up to date"
} else {
    # 3. Stage next to the target, so the switch itself is two renames.
    Copy-Item -Force $newExe "$Exe.new"
    Copy-Item -Force $newConfig "$Config.new"
    $hadService = [bool]$svc
    if ($hadService) {
        if (Test-Path $Exe) { Copy-Item -Force $Exe "$Exe.previous" }
        if (Test-Path $Config) { Copy-Item -Force $Config "$Config.previous" }
        Log "stopping the service (containers keep running: restart without loss)"
        Invoke-Wincrid $Exe @("service", "stop") | Out-Null
    }
    Move-Item -Force "$Exe.new" $Exe
    Move-Item -Force "$Config.new" $Config
    if (-not $hadService) {
        Log "installing the service"
        Invoke-Wincrid $Exe @("service", "install", "--config", $Config) | Out-Null
    }
    # A start that fails (exit 1: the new wincrid stopped while starting) is rolled back
    # below like one that never serves; what `service start` said goes to the pod's log.
    $started = Run-Wincrid $Exe @("service", "start", "--timeout", "$StartTimeoutSeconds")
    if ($started.Output) { Log $started.Output }
    if ($started.Exit -ne 0 -or -not (Wait-Serving $Exe)) {
        Log "the new wincrid did not come up within $StartTimeoutSeconds s"
        if ($hadService -and (Test-Path "$Exe.previous")) {
            & $Exe service stop *> $null
            Copy-Item -Force "$Exe.previous" $Exe
            if (Test-Path "$Config.previous") { Copy-Item -Force "$Config.previous" $Config }
            & $Exe service start *> $null
            if (Wait-Serving $Exe) { Log "rolled back to the previous wincrid" }
            else { Log "the previous wincrid did not come up either: see $DataDir\wincrid.log" }
        }
        throw "wincrid $want did not start on $env:NODE_NAME; see $DataDir\wincrid.log"
    }
    Log "wincrid $want is serving $Pipe"
}

# 4. Ready: the rollout may go on to the next node.
Set-Content -Path $ready -Value $want -Encoding ascii
Log "ready"
while ($true) { Start-Sleep -Seconds 3600 }
