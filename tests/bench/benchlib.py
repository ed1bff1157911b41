"""Setup shared by the benchmarks: gRPC stubs from wincri's proto, a busybox test image,
and a bridge CNI config on the benchmark's own subnet (no masquerade)."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import registry as R  # noqa: E402


def stubs():
    """Generates the Python stubs from cri/api.proto; returns (dir, api_pb2, api_pb2_grpc)."""
    out = tempfile.mkdtemp(prefix="wcbench-pb-")
    subprocess.run(["protoc", f"--python_out={out}", f"--grpc_out={out}",
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
                    f"-I{REPO}/cri", f"{REPO}/cri/api.proto"], check=True)
    sys.path.insert(0, out)
    import api_pb2
    import api_pb2_grpc
    return out, api_pb2, api_pb2_grpc


def busybox_image(applets):
    """A one-layer image of Debian's busybox-static with the given applets linked."""
    t = R.TarBuilder().dir("bin").dir("etc").dir("tmp", 0o1777).dir("root", 0o700)
    with open("/bin/busybox", "rb") as f:
        t.file("bin/busybox", f.read(), 0o755)
    for a in applets:
        t.symlink("bin/" + a, "busybox")
    t.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    t.file("etc/group", "root:x:0:\n")
    return R.Image([R.Layer(t.bytes())], cmd=["/bin/sleep", "3600"])


def write_bridge_cni(cni_dir, ipam_dir, subnet, bridge, name, portmap=False):
    """A bridge + host-local conflist; with portmap, hostPorts too (snat off)."""
    bridge_plugin = {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                              "dataDir": ipam_dir}}
    plugins = [bridge_plugin]
    if portmap:
        bridge_plugin["hairpinMode"] = True
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True},
                        "snat": False})
    with open(os.path.join(cni_dir, f"10-{name}.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": name, "plugins": plugins}, f, indent=1)
