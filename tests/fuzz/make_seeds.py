#!/usr/bin/python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ (run from anywhere with
/usr/bin/python3; files named regress-* are inputs that once found a bug and are kept by
hand, never rewritten here). Seeds are small valid examples of each input kind, so the
fuzzers start past the first checks."""
import base64
import gzip
import hashlib
import io
import json
import os
import re
import struct
import tarfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEP = b"\n--\n"


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- websocket -------------------------------------------------------------------------


def ws_frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def websocket():
    put("websocket", "stdin-then-close",
        b"dGhlIHNhbXBsZSBub25jZQ==" + ws_frame(2, b"\x00echo hi\n") + ws_frame(8, b"\x03\xe8"))
    put("websocket", "fragments-ping",
        ws_frame(2, b"\x00ab", fin=False) + ws_frame(9, b"ping") + ws_frame(0, b"cd"))
    put("websocket", "resize-b64", ws_frame(1, b"4" + base64.b64encode(b'{"Width":80,"Height":24}')))
    put("websocket", "long16", ws_frame(2, b"\x00" + b"x" * 300))


# ---- spdy ------------------------------------------------------------------------------


def spdy_dictionary():
    text = open(os.path.join(ROOT, "cri", "spdy_dict.c")).read()
    body = text[text.index("cri_spdy_dictionary[] = {"):]
    body = body[:body.index("};")]
    return bytes(int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]{2})", body))


class Spdy:
    """One direction of a SPDY/3 connection: one zlib stream for every header block."""

    def __init__(self):
        self.z = zlib.compressobj(zdict=spdy_dictionary())

    def headers(self, pairs):
        raw = struct.pack(">I", len(pairs))
        for k, v in pairs:
            raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
        return self.z.compress(raw) + self.z.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def control(ftype, flags, payload):
        return struct.pack(">HHB", 0x8003, ftype, flags) + len(payload).to_bytes(3, "big") + payload

    def syn_stream(self, sid, pairs, flags=0):
        return self.control(1, flags, struct.pack(">IIH", sid, 0, 0) + self.headers(pairs))

    @staticmethod
    def data(sid, payload, flags=0):
        return struct.pack(">IB", sid, flags) + len(payload).to_bytes(3, "big") + payload


def spdy_exec_stream(tty=False, stdin=True):
    """What kubectl exec sends after the upgrade: error, stdin, stdout (and resize) streams."""
    s = Spdy()
    out = s.syn_stream(1, [("streamtype", "error")])
    sid = 3
    if stdin:
        out += s.syn_stream(sid, [("streamtype", "stdin")])
        stdin_sid = sid
        sid += 2
    out += s.syn_stream(sid, [("streamtype", "stdout")])
    sid += 2
    if tty:
        out += s.syn_stream(sid, [("streamtype", "resize")])
        out += Spdy.data(sid, b'{"Width":100,"Height":30}')
        sid += 2
    else:
        out += s.syn_stream(sid, [("streamtype", "stderr")])
        sid += 2
    if stdin:
        out += Spdy.data(stdin_sid, b"hello\n", flags=1)
    out += Spdy.control(9, 0, struct.pack(">II", 3, 65536))  # WINDOW_UPDATE
    out += Spdy.control(4, 0, struct.pack(">I", 1) + struct.pack(">II", 7, 1 << 20))  # SETTINGS
    out += Spdy.control(6, 0, struct.pack(">I", 1))  # PING
    out += Spdy.control(3, 0, struct.pack(">II", 3, 5))  # RST_STREAM
    return out


def spdy_pf_stream():
    s = Spdy()
    out = s.syn_stream(1, [("streamtype", "error"), ("port", "80"), ("requestid", "0")])
    out += s.syn_stream(3, [("streamtype", "data"), ("port", "80"), ("requestid", "0")])
    out += Spdy.data(3, b"GET / HTTP/1.0\r\n\r\n")
    out += s.syn_stream(5, [("streamtype", "error"), ("port", "8080")])
    out += s.syn_stream(7, [("streamtype", "data"), ("port", "8080")])
    out += Spdy.data(7, b"x" * 40, flags=1)
    out += Spdy.control(7, 0, struct.pack(">II", 7, 0))  # GOAWAY
    return out


def spdy():
    put("spdy", "exec", spdy_exec_stream())
    put("spdy", "exec-tty", spdy_exec_stream(tty=True))
    put("spdy", "portforward", spdy_pf_stream())


# ---- http and the streaming session -----------------------------------------------------


def ws_head(verb, protocol, extra=""):
    return ("GET /%s/@TOKEN@%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
            % (verb, extra, protocol)).encode()


def spdy_head(verb, protocol):
    return ("POST /%s/@TOKEN@ HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            "X-Stream-Protocol-Version: %s\r\n\r\n" % (verb, protocol)).encode()


def http():
    put("http", "ws-exec", ws_head("exec", "v5.channel.k8s.io, v4.channel.k8s.io").replace(
        b"@TOKEN@", b"abc"))
    put("http", "spdy-pf", b"POST /portforward/tok?port=80&port=8080 HTTP/1.1\r\n"
        b"Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
        b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")


def stream_session():
    # Setup bytes: kind (0 exec, 1 attach, 2 port-forward) | tty 4 | stdin 8 | stdout 16 |
    # stderr 32 | ports (bits 6-7); backend/platform mode; read size.
    exec_io = bytes([0 | 8 | 16 | 32, 4 | 8, 200])
    tty = bytes([0 | 4 | 8 | 16, 4 | 8, 3])
    attach = bytes([1 | 16, 8, 0])
    pf = bytes([2 | (1 << 6), 4, 100])
    put("stream_session", "ws-exec-v5", exec_io + ws_head("exec", "v5.channel.k8s.io") +
        ws_frame(2, b"\x00echo hi\n") + ws_frame(2, b"\xff\x00") + ws_frame(9, b"p") +
        ws_frame(8, b"\x03\xe8"))
    put("stream_session", "ws-exec-b64-tty", tty + ws_head("exec", "v4.base64.channel.k8s.io") +
        ws_frame(1, b"0" + base64.b64encode(b"ls\n")) +
        ws_frame(1, b"4" + base64.b64encode(b'{"Width":80,"Height":24}')))
    put("stream_session", "ws-attach-v1", attach + ws_head("attach", "channel.k8s.io") +
        ws_frame(2, b"\x00x", fin=False) + ws_frame(0, b"y"))
    put("stream_session", "ws-pf", pf + ws_head("portforward", "v4.channel.k8s.io",
                                               "?port=80&port=443") +
        ws_frame(2, b"\x00GET / HTTP/1.0\r\n\r\n") + ws_frame(2, b"\x02abc"))
    put("stream_session", "spdy-exec", exec_io + spdy_head("exec", "v4.channel.k8s.io") +
        spdy_exec_stream())
    put("stream_session", "spdy-exec-tty", tty + spdy_head("exec", "v3.channel.k8s.io") +
        spdy_exec_stream(tty=True))
    put("stream_session", "spdy-pf", pf + spdy_head("portforward", "portforward.k8s.io") +
        spdy_pf_stream())
    put("stream_session", "bad-protocol", exec_io + spdy_head("exec", "v9.channel.k8s.io"))


# ---- config, image references, registry auth ------------------------------------------


def config():
    put("config", "minimal", "{}")
    put("config", "full", json.dumps({
        "root": "/var/lib/wincri", "state": "/run/wincri", "listen": "tcp://127.0.0.1:1234",
        "log_level": "debug", "shutdown_grace_seconds": 3,
        "default_runtime_handler": "fast",
        "runtime_handlers": {"fast": {"runtime": "crun"}, "vm": {"runtime": "runc",
                                                                 "isolation": "hyperv"}},
        "cni_conf_dir": "/etc/cni/net.d", "cni_bin_dirs": ["/usr/lib/cni"],
        "windows_nat": {"enabled": True, "network": "nat", "subnet": "10.9.0.0/24",
                        "gateway": "10.9.0.1"},
        "streaming": {"address": "127.0.0.1", "port": 0, "tls_cert": "", "tls_key": ""},
        "images": {"max_concurrent_downloads": 2},
        "registries": {
            "127.0.0.1:5000": {"mirrors": ["http://127.0.0.1:5001/prefix/", "localhost:5002"],
                               "plain_http": True, "username": "u", "password": "p"},
            "localhost:5000": {"auth": "dXNlcjpwYXNz", "skip_verify": True, "ca_file": "/x"},
            "[::1]:5000": {"identity_token": "tok"}},
        "fault_injection": {"rpc_delay_ms": {"/runtime.v1.RuntimeService/Status": 10}},
    }, indent=1))
    put("config", "bad-type", '{\n  "images": {"max_concurrent_downloads": "4"}\n}')
    put("config", "unknown-nested", '{"registries": {"127.0.0.1:5000": {"mirors": []}}}')


def image_ref():
    for i, r in enumerate([
            "busybox", "127.0.0.1:5000/fuzz/image:v1.2",
            "localhost:5000/a/b-c__d.e@sha256:" + "ab" * 32,
            "[::1]:5000/x/y:latest@sha256:" + "0f" * 32,
            "index.docker.io/library/alpine:3", "Registry.Example:443/UPPER/x",
            "./a/../../b", "a" * 64]):
        put("image_ref", "ref%d" % i, r)


def registry_auth():
    put("registry_auth", "bearer", SEP.join([
        b'Bearer realm="http://127.0.0.1:5000/token?x=1",service="registry",'
        b'scope="repository:fuzz/image:pull",error="insufficient_scope"',
        b'{"token":"abc","expires_in":300}', b"dXNlcjpwYXNzOndvcmQ="]))
    put("registry_auth", "basic-and-bearer", SEP.join([
        b'Basic realm="x", Bearer realm=http://127.0.0.1/t,service=s\\"q',
        b'{"access_token":"zz","expires_in":-5}', b"dTpw\n"]))


# ---- CRI requests ----------------------------------------------------------------------


def cri_module():
    """api_pb2 generated from cri/api.proto by protoc into a temporary directory."""
    import importlib
    import subprocess
    import sys
    import tempfile
    out = tempfile.mkdtemp(prefix="wincri-seeds-")
    subprocess.run(["protoc", "-I", os.path.join(ROOT, "cri"), "--python_out", out, "api.proto"],
                   check=True)
    sys.path.insert(0, out)
    return importlib.import_module("api_pb2")


def cri_request():
    pb = cri_module()
    methods = []  # the fuzz target's order: RuntimeService methods, then ImageService's
    for svc in ("RuntimeService", "ImageService"):
        methods += [m.name for m in pb.DESCRIPTOR.services_by_name[svc].methods]

    def put_req(name, method, msg):
        put("cri_request", name, bytes([methods.index(method)]) + msg.SerializeToString())

    sandbox = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="web", uid="u-1", namespace="default", attempt=1),
        hostname="web-0", log_directory="/var/log/pods/default_web_u-1",
        dns_config=pb.DNSConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local"],
                                options=["ndots:5"]),
        port_mappings=[pb.PortMapping(protocol=pb.TCP, container_port=80, host_port=8080,
                                      host_ip="127.0.0.1")],
        labels={"app": "web"}, annotations={"io.microsoft.virtualmachine.computetopology."
                                            "memory.sizeinmb": "2048"},
        linux=pb.LinuxPodSandboxConfig(
            cgroup_parent="/kubepods/burstable/podu-1",
            security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER),
                run_as_user=pb.Int64Value(value=1000), supplemental_groups=[2000],
                seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault)),
            sysctls={"net.ipv4.ip_unprivileged_port_start": "0"}),
        windows=pb.WindowsPodSandboxConfig(security_context=pb.WindowsSandboxSecurityContext(
            run_as_username="ContainerUser")))
    put_req("run-pod-sandbox", "RunPodSandbox",
            pb.RunPodSandboxRequest(config=sandbox, runtime_handler="runhcs-wcow-hypervisor"))
    res = pb.LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=512,
                                     memory_limit_in_bytes=64 << 20, oom_score_adj=-999,
                                     cpuset_cpus="0-1", cpuset_mems="0",
                                     hugepage_limits=[pb.HugepageLimit(page_size="2MB",
                                                                       limit=1 << 21)],
                                     unified={"memory.high": "max"},
                                     memory_swap_limit_in_bytes=128 << 20)
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app", attempt=0),
        image=pb.ImageSpec(image="127.0.0.1:5000/fuzz/image:latest"),
        command=["/bin/sh"], args=["-c", "echo hi"], working_dir="/srv",
        envs=[pb.KeyValue(key="A", value="1"), pb.KeyValue(key="PATH", value="/bin")],
        mounts=[pb.Mount(container_path="/data", host_path="/var/lib/data", readonly=True,
                         propagation=pb.PROPAGATION_HOST_TO_CONTAINER),
                pb.Mount(container_path="C:\\data", host_path="C:\\host\\data")],
        devices=[pb.Device(container_path="/dev/fuse", host_path="/dev/fuse", permissions="rwm")],
        labels={"io.kubernetes.container.name": "app"}, annotations={"a": "b"},
        log_path="app/0.log", stdin=True, tty=True,
        linux=pb.LinuxContainerConfig(resources=res, security_context=pb.LinuxContainerSecurityContext(
            capabilities=pb.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["ALL"]),
            namespace_options=pb.NamespaceOption(pid=pb.TARGET, target_id="c0ffee"),
            run_as_user=pb.Int64Value(value=0), run_as_username="", readonly_rootfs=True,
            no_new_privs=True, masked_paths=["/proc/kcore"], readonly_paths=["/proc/sys"],
            seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined),
            apparmor=pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined))),
        windows=pb.WindowsContainerConfig(
            resources=pb.WindowsContainerResources(cpu_count=2, cpu_maximum=5000,
                                                   memory_limit_in_bytes=1 << 30),
            security_context=pb.WindowsContainerSecurityContext(run_as_username="ContainerAdministrator")),
        stop_signal=pb.SIGTERM)
    put_req("create-container", "CreateContainer",
            pb.CreateContainerRequest(pod_sandbox_id="5a9d", config=config, sandbox_config=sandbox))
    plain = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="x"),
                               image=pb.ImageSpec(image="busybox"))
    put_req("create-container-plain", "CreateContainer",
            pb.CreateContainerRequest(pod_sandbox_id="5a9d", config=plain))
    put_req("exec-sync", "ExecSync",
            pb.ExecSyncRequest(container_id="c0", cmd=["cmd", "/c", "echo \"a b\""], timeout=3))
    put_req("update-resources", "UpdateContainerResources",
            pb.UpdateContainerResourcesRequest(container_id="c0", linux=res))
    put_req("update-pod-resources", "UpdatePodSandboxResources",
            pb.UpdatePodSandboxResourcesRequest(pod_sandbox_id="p", overhead=res, resources=res))
    put_req("update-runtime-config", "UpdateRuntimeConfig", pb.UpdateRuntimeConfigRequest(
        runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(
            pod_cidr="10.244.0.0/16,fd00::/64"))))
    put_req("exec", "Exec", pb.ExecRequest(container_id="c0", cmd=["sh"], tty=True, stdin=True,
                                           stdout=True))
    put_req("attach", "Attach", pb.AttachRequest(container_id="c0", stdin=True, stdout=True,
                                                 stderr=True))
    put_req("port-forward", "PortForward", pb.PortForwardRequest(pod_sandbox_id="p",
                                                                 port=[80, 65536]))
    put_req("pull-image", "PullImage", pb.PullImageRequest(
        image=pb.ImageSpec(image="127.0.0.1:5000/fuzz/image@sha256:" + "ab" * 32),
        auth=pb.AuthConfig(auth="dXNlcjpwYXNz", identity_token="t")))
    put_req("image-status", "ImageStatus", pb.ImageStatusRequest(
        image=pb.ImageSpec(image="localhost:5000/a:b"), verbose=True))
    put_req("list-containers", "ListContainers", pb.ListContainersRequest(
        filter=pb.ContainerFilter(id="c", label_selector={"a": "b"})))


# ---- layers --------------------------------------------------------------------------


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (TarInfo, data or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    # Without tarfile's padding to 10 KiB records: the data and the two zero end blocks.
    data = buf.getvalue()
    end = (len(data.rstrip(b"\0")) + 511) // 512 * 512 + 1024
    return data[:end]


def ti(name, kind=tarfile.REGTYPE, link="", mode=0o644, pax=None, **kw):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = mode
    info.mtime = 1700000000
    if pax:
        info.pax_headers = pax
    for k, v in kw.items():
        setattr(info, k, v)
    return info


def zstd(data):
    import subprocess
    return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def linux_layers():
    d = tarfile.DIRTYPE
    base = tar_bytes([
        (ti("etc/", d, mode=0o755), None),
        (ti("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n"),
        (ti("bin/", d, mode=0o755), None),
        (ti("bin/busybox", mode=0o755, uid=0, gid=0), b"\x7fELF" + b"\0" * 60),
        (ti("bin/sh", tarfile.SYMTYPE, "busybox"), None),
        (ti("bin/ls", tarfile.LNKTYPE, "bin/busybox"), None),
        (ti("etc/.wh.old"), b""),
        (ti("usr/", d), None),
        (ti("usr/.wh..wh..opq"), b""),
        (ti("var/run", tarfile.SYMTYPE, "../run"), None),
        (ti("tmp/", d, mode=0o1777), None),
        (ti("tmp/fifo", tarfile.FIFOTYPE), None),
        (ti("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3), None),
        (ti("x", pax={"SCHILY.xattr.user.k": "v",
                      "SCHILY.xattr.trusted.overlay.opaque": "y"}), b"xattrs"),
        (ti("./a/./b//c"), b"odd names"),
    ])
    # setup byte: media type (bits 0-1) | devices (bit 2) | read size (bits 3-7)
    put("linux_layer", "base-tar", bytes([0 | 4 | (3 << 3)]) + base)
    put("linux_layer", "base-gzip", bytes([1 | (200 << 3 & 0xf8)]) + gzip.compress(base, mtime=0))
    put("linux_layer", "base-zstd", bytes([2]) + zstd(base))
    put("linux_layer", "gnu-longname", bytes([0]) + tar_bytes(
        [(ti("d/" + "n" * 150), b"long"), (ti("l" * 120, tarfile.SYMTYPE, "t" * 130), None)],
        fmt=tarfile.GNU_FORMAT))
    for name, entries in {
        "escape-dotdot": [(ti("../evil"), b"x")],
        "escape-symlink-dir": [(ti("link", tarfile.SYMTYPE, "/etc"), None),
                               (ti("link/passwd"), b"owned")],
        "escape-symlink-rel": [(ti("a", tarfile.SYMTYPE, "../../.."), None),
                               (ti("a/tmp/x"), b"x")],
        "escape-hardlink": [(ti("h", tarfile.LNKTYPE, "/etc/passwd"), None)],
        "escape-hardlink-rel": [(ti("h", tarfile.LNKTYPE, "../canary/keep"), None)],
        "whiteout-dotdot": [(ti("d/.wh.."), b"")],
        "dir-over-symlink": [(ti("s", tarfile.SYMTYPE, "/tmp"), None), (ti("s/", d), None)],
    }.items():
        put("linux_layer", name, bytes([0]) + tar_bytes(entries))


def windows_layers():
    d = tarfile.DIRTYPE
    sd = base64.b64encode(bytes([1, 0, 0, 0x80]) + bytes(16)).decode()
    ea = base64.b64encode(b"value").decode()
    layer = tar_bytes([
        (ti("Files", d, pax={"MSWINDOWS.fileattr": "16"}), None),
        (ti("Files/Windows", d), None),
        (ti("Files/Windows/System32/cmd.exe", pax={
            "MSWINDOWS.fileattr": "32", "MSWINDOWS.rawsd": sd,
            "MSWINDOWS.xattr.user": ea, "LIBARCHIVE.creationtime": "1600000000.5"}),
         b"MZ" + b"\0" * 100),
        (ti("Files/Windows/System32/cmd.exe:Zone.Identifier"), b"[ZoneTransfer]\r\n"),
        (ti("Files/link", tarfile.SYMTYPE, "C:\\Windows",
            pax={"MSWINDOWS.mountpoint": "1"}), None),
        (ti("Files/rel", tarfile.SYMTYPE, "Windows\\System32"), None),
        (ti("Files/hard", tarfile.LNKTYPE, "Files/Windows/System32/cmd.exe"), None),
        (ti("Files/.wh.gone"), b""),
        (ti("Hives", d), None),
        (ti("Hives/Software_Delta"), b"regf" + b"\0" * 60),
        (ti("UtilityVM", d), None),
        (ti("UtilityVM/Files", d), None),
        (ti("UtilityVM/Files/EFI/boot.efi", pax={"MSWINDOWS.sd": "O:BAG:SY"}), b"efi"),
    ])
    # setup byte: bit 0 pull form (decompressing), bits 1-7 piece size
    put("windows_layer", "layer-push", bytes([0 | (5 << 1)]) + layer)
    put("windows_layer", "layer-gzip", bytes([1]) + gzip.compress(layer, mtime=0))
    put("windows_layer", "legacy-schily", bytes([0]) + tar_bytes([
        (ti("Files", d), None),
        (ti("Files/a", pax={"SCHILY.xattr.MSWINDOWS.fileattr": "1",
                            "MSWINDOWS.writetime": "132000000000000000"}), b"a")]))
    put("windows_layer", "escapes", bytes([0]) + tar_bytes([
        (ti("Files", d), None), (ti("Files/../x"), b"x"), (ti("C:/x"), b"x"),
        (ti("Files/u", tarfile.SYMTYPE, "\\\\server\\share"), None),
        (ti("Files/h", tarfile.LNKTYPE, "Hives/x"), None)]))


# ---- image pulls ----------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_TGZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def pull_input(setup, parts):
    """parts: (content type, body); see fuzz_image_pull.c for {{dN}} and {{sN}}."""
    out = bytes([setup])
    for i, (ctype, body) in enumerate(parts):
        if isinstance(body, str):
            body = body.encode()
        assert SEP not in body and b"\n" not in ctype.encode()
        out += (SEP if i else b"") + ctype.encode() + b"\n" + body
    return out


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(diff_ids, os_name="linux"):
    return json.dumps({"architecture": "amd64", "os": os_name,
                       "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "User": "1000"},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}})


def manifest(layers, config_part, mtype=OCI_MANIFEST, ctype=OCI_CONFIG):
    return json.dumps({"schemaVersion": 2, "mediaType": mtype,
                       "config": {"mediaType": ctype, "digest": "{{d%d}}" % config_part,
                                  "size": 0},
                       "layers": [{"mediaType": mt, "digest": "{{d%d}}" % i, "size": 0}
                                  for mt, i in layers]}).replace(
        '"size": 0}', '"size": {{s%d}}}')


def image_pull():
    d = tarfile.DIRTYPE
    tar1 = tar_bytes([(ti("bin/", d), None), (ti("bin/sh", mode=0o755), b"#!sh\n"),
                      (ti("etc/hosts"), b"127.0.0.1 localhost\n")])
    tar2 = tar_bytes([(ti("etc/.wh.hosts"), b""), (ti("app"), b"app"),
                      (ti("applink", tarfile.LNKTYPE, "app"), None)])
    tgz2 = gzip.compress(tar2, mtime=0)
    assert SEP not in tar1 and SEP not in tgz2

    def fill_sizes(m, parts):
        # manifest() leaves "{{s%d}}" with a literal %d: number them in layer order
        for i in parts:
            m = m.replace("{{s%d}}", "{{s%d}}" % i, 1)
        return m

    m = fill_sizes(manifest([(OCI_TAR, 2), (OCI_TGZ, 3)], 1), [1, 2, 3])
    parts = [(OCI_MANIFEST, m), ("", image_config(["{{d2}}", sha(tar2)])),
             ("", tar1), ("", tgz2)]
    put("image_pull", "oci-manifest", pull_input(0 | (3 << 2), parts))
    put("image_pull", "oci-manifest-by-digest", pull_input(1 | 2, parts))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "0" * 64, "size": 1,
         "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.20348.1"}},
        {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 1,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": OCI_MANIFEST, "digest": "{{d1}}", "size": "{{s1}}",
         "platform": {"os": "linux", "architecture": "amd64"}}]}).replace('"{{s1}}"', "{{s1}}")
    m = fill_sizes(manifest([(OCI_TAR, 3)], 2), [2, 3])
    put("image_pull", "oci-index", pull_input(0, [(OCI_INDEX, index), (OCI_MANIFEST, m),
                                                   ("", image_config(["{{d3}}"])), ("", tar1)]))
    docker = fill_sizes(manifest([("application/vnd.docker.image.rootfs.diff.tar.gzip", 2)], 1,
                                 mtype="application/vnd.docker.distribution.manifest.v2+json",
                                 ctype="application/vnd.docker.container.image.v1+json"), [1, 2])
    put("image_pull", "docker-v2", pull_input(0, [
        ("application/vnd.docker.distribution.manifest.v2+json", docker),
        ("", image_config([sha(tar2)])), ("", tgz2)]))
    put("image_pull", "schema1", pull_input(0, [
        ("application/vnd.docker.distribution.manifest.v1+prettyjws",
         '{"schemaVersion":1,"fsLayers":[]}')]))
    put("image_pull", "wrong-diff-id", pull_input(0, [
        (OCI_MANIFEST, fill_sizes(manifest([(OCI_TAR, 2)], 1), [1, 2])),
        ("", image_config(["sha256:" + "ab" * 32])), ("", tar1)]))
    put("image_pull", "escape-layer", pull_input(0, [
        (OCI_MANIFEST, fill_sizes(manifest([(OCI_TAR, 2)], 1), [1, 2])),
        ("", image_config(["{{d2}}"])),
        ("", tar_bytes([(ti("l", tarfile.SYMTYPE, "/"), None), (ti("l/x"), b"x")]))]))


def image_config_seeds():
    def plat(os_name, arch, variant=None, osv=None):
        p = {"os": os_name, "architecture": arch}
        if variant:
            p["variant"] = variant
        if osv:
            p["os.version"] = osv
        return {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 1,
                "platform": p}
    index = json.dumps({"schemaVersion": 2, "manifests": [
        plat("linux", "amd64"), plat("linux", "arm64", "v8"), plat("linux", "arm", "v6"),
        plat("linux", "arm", "v7"), plat("windows", "amd64", osv="10.0.17763.5329"),
        plat("windows", "amd64", osv="10.0.20348.2227"), plat("windows", "amd64",
                                                            osv="10.0.26100.1742"),
        plat("windows", "amd64", osv="10.0.20348")]})
    linux = json.dumps({"architecture": "amd64", "os": "linux", "config": {
        "User": "nobody:nogroup", "Env": ["PATH=/usr/bin", "HOME=/root", "EMPTY="],
        "Entrypoint": ["/entry.sh"], "Cmd": ["run", "--x"], "WorkingDir": "/srv",
        "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}, "StopSignal": "SIGTERM",
        "Labels": {"a": "b"}}, "rootfs": {"type": "layers", "diff_ids": []}})
    windows = json.dumps({"architecture": "amd64", "os": "windows",
                          "os.version": "10.0.20348.2227", "config": {
                              "User": "ContainerUser", "Env": ["Path=C:\\Windows", "PATH=x"],
                              "Cmd": ["cmd", "/S", "/C", "echo \"hi there\""],
                              "WorkingDir": "C:\\app"}})
    put("image_config", "index-linux", (index + "\n--\n" + linux).encode())
    put("image_config", "windows", (index + "\n--\n" + windows).encode())


# ---- main ------------------------------------------------------------------------------


def main():
    websocket()
    spdy()
    http()
    stream_session()
    config()
    image_ref()
    registry_auth()
    cri_request()
    linux_layers()
    windows_layers()
    image_pull()
    image_config_seeds()


if __name__ == "__main__":
    main()
