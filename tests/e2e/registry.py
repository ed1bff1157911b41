"""Registry machinery for the image tests, all on 127.0.0.1:

* Registry      Debian's docker-registry with a temp config (anonymous, htpasswd basic auth,
                or bearer tokens from TokenServer); several may share one storage dir.
* TokenServer   a small token server for the bearer flow: signs RS256 JWTs with an x5c
                certificate the registry trusts; checks basic credentials or a refresh token.
* CountingProxy an HTTP proxy in front of a registry that counts requests per path and can
                slow blob transfers down.
* BadRegistry   a registry in Python serving in-memory images whose blobs misbehave on
                purpose (500, stall, truncation, wrong bytes) or come slowly but steadily.
* image builders: layers made with tarfile/gzip from a busybox-static rootfs, OCI configs,
  manifests and indexes, pushed with plain HTTP (urllib).
"""
import base64
import datetime
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid

BUSYBOX = "/bin/busybox"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def wait_http(url, timeout=20, ok=(200, 401)):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status in ok:
                    return
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


# ---- Layers and images ---------------------------------------------------------------------

class Layer:
    def __init__(self, tar_bytes, media_type=OCI_LAYER_GZIP):
        self.diff_id = sha256(tar_bytes)
        self.media_type = media_type
        if media_type in (OCI_LAYER_GZIP, DOCKER_LAYER):
            self.blob = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
        elif media_type == OCI_LAYER_ZSTD:
            self.blob = subprocess.run(["zstd", "-q", "-c"], input=tar_bytes,
                                       stdout=subprocess.PIPE, check=True).stdout
        else:
            self.blob = tar_bytes
        self.digest = sha256(self.blob)

    def descriptor(self):
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.blob)}


class TarBuilder:
    """Small helper over tarfile with fixed times and owners."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name, kind, mode, uid=0, gid=0):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.mtime = 1700000000
        return ti

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))
        return self

    def file(self, name, data=b"", mode=0o644, uid=0, gid=0, xattrs=None):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        ti.size = len(data)
        if xattrs:
            ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in xattrs.items()}
        self.tar.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name, target):
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def hardlink(self, name, target):
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def device(self, name, major=1, minor=3, char=True):
        ti = self._info(name, tarfile.CHRTYPE if char else tarfile.BLKTYPE, 0o666)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)
        return self

    def fifo(self, name):
        self.tar.addfile(self._info(name, tarfile.FIFOTYPE, 0o644))
        return self

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


BUSYBOX_APPLETS = ["sh", "ls", "cat", "echo", "sleep", "true", "false", "id", "env", "ps",
                   "mkdir", "rm", "touch", "wc", "head", "stat", "hostname", "ip", "wget"]


def busybox_tar(extra=None):
    """The uncompressed busybox rootfs tar; extra maps more file names to contents."""
    t = TarBuilder().dir("bin").dir("etc").dir("tmp", 0o1777).dir("root", 0o700)
    with open(BUSYBOX, "rb") as f:
        t.file("bin/busybox", f.read(), 0o755)
    for a in BUSYBOX_APPLETS:
        t.symlink("bin/" + a, "busybox")
    t.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
    t.file("etc/group", "root:x:0:\nnogroup:x:65534:\n")
    t.dir("data").file("data/keep", "keep\n").file("data/gone", "gone\n")
    t.dir("data/opaque").file("data/opaque/old", "old\n")
    for name, data in (extra or {}).items():
        t.file(name, data)
    return t.bytes()


def busybox_layer(media_type=OCI_LAYER_GZIP, extra=None):
    return Layer(busybox_tar(extra), media_type)


def whiteout_layer():
    """Second layer: whiteout, opaque dir, hard link, owners and modes."""
    t = TarBuilder().dir("data")
    t.file("data/.wh.gone")
    t.dir("data/opaque").file("data/opaque/.wh..wh..opq").file("data/opaque/new", "new\n")
    t.file("data/original", "linked content\n", 0o640, uid=1000, gid=1000)
    t.hardlink("data/hardlink", "data/original")
    t.file("data/setuid", "x", 0o4755)
    t.file("data/xattr", "x", xattrs={"user.wincri": "yes"})
    t.fifo("data/fifo")
    return Layer(t.bytes())


class Image:
    """A single-platform image: layers, config, manifest."""

    def __init__(self, layers, os_name="linux", arch="amd64", cmd=None, user="",
                 os_version=None, env=None, manifest_type=OCI_MANIFEST, extra_config=None):
        self.layers = layers
        self.os, self.arch, self.os_version = os_name, arch, os_version
        cfg = {
            "architecture": arch, "os": os_name,
            "config": {"Cmd": cmd or ["/bin/sh"], "Env": env or ["PATH=/bin"],
                       "User": user, "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
            "created": "2024-01-01T00:00:00Z",
        }
        if os_version:
            cfg["os.version"] = os_version
        cfg.update(extra_config or {})
        self.config = json.dumps(cfg, sort_keys=True).encode()
        self.config_digest = sha256(self.config)
        self.id = self.config_digest
        self.manifest_type = manifest_type
        cfg_type = OCI_CONFIG if manifest_type == OCI_MANIFEST else \
            "application/vnd.docker.container.image.v1+json"
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": manifest_type,
            "config": {"mediaType": cfg_type, "digest": self.config_digest,
                       "size": len(self.config)},
            "layers": [l.descriptor() for l in layers],
        }, sort_keys=True).encode()
        self.digest = sha256(self.manifest)

    def blobs(self):
        out = {self.config_digest: self.config}
        for l in self.layers:
            out[l.digest] = l.blob
        return out

    def platform(self):
        p = {"os": self.os, "architecture": self.arch}
        if self.os_version:
            p["os.version"] = self.os_version
        return p


class Index:
    def __init__(self, images):
        self.images = images
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": i.manifest_type, "digest": i.digest,
                           "size": len(i.manifest), "platform": i.platform()}
                          for i in images],
        }, sort_keys=True).encode()
        self.digest = sha256(self.manifest)
        self.manifest_type = OCI_INDEX


def simple_image(marker="", **kw):
    """busybox rootfs plus a small layer that makes the image unique."""
    top = Layer(TarBuilder().dir("etc").file("etc/marker", marker or uuid.uuid4().hex).bytes())
    return Image([busybox_layer(), top], **kw)


# ---- Pushing -------------------------------------------------------------------------------

class Pusher:
    def __init__(self, base, auth_header=None):
        self.base = base.rstrip("/")
        self.auth_header = auth_header

    def _req(self, method, url, data=None, headers=None):
        h = dict(headers or {})
        if self.auth_header:
            h["Authorization"] = self.auth_header
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        return urllib.request.urlopen(req, timeout=60)

    def blob(self, repo, digest, data):
        try:
            with self._req("HEAD", f"{self.base}/v2/{repo}/blobs/{digest}"):
                return
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
        with self._req("POST", f"{self.base}/v2/{repo}/blobs/uploads/", b"") as r:
            loc = r.headers["Location"]
        loc = urllib.parse.urljoin(self.base + "/", loc)
        sep = "&" if "?" in loc else "?"
        with self._req("PUT", f"{loc}{sep}digest={digest}", data,
                       {"Content-Type": "application/octet-stream"}) as r:
            assert r.status == 201, r.status

    def manifest(self, repo, ref, body, media_type):
        with self._req("PUT", f"{self.base}/v2/{repo}/manifests/{ref}", body,
                       {"Content-Type": media_type}) as r:
            assert r.status == 201, r.status

    def image(self, repo, tag, img):
        for d, b in img.blobs().items():
            self.blob(repo, d, b)
        self.manifest(repo, tag or img.digest, img.manifest, img.manifest_type)

    def index(self, repo, tag, idx):
        for img in idx.images:
            self.image(repo, None, img)
        self.manifest(repo, tag, idx.manifest, OCI_INDEX)


# ---- docker-registry -----------------------------------------------------------------------

class Registry:
    def __init__(self, storage, auth=None):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.dir = tempfile.mkdtemp(prefix="wcreg-")
        self.storage = storage
        self.auth = auth
        cfg = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
               "storage:", "  filesystem:", f"    rootdirectory: {storage}",
               "  delete:", "    enabled: true",
               "http:", f"  addr: {self.host}", f"  secret: {uuid.uuid4().hex}"]
        cfg += auth or []
        self.config = os.path.join(self.dir, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log = open(os.path.join(self.dir, "registry.log"), "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(self.url + "/v2/")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def htpasswd_auth(path, user, password):
    subprocess.run(["htpasswd", "-Bbc", path, user, password], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ["auth:", "  htpasswd:", "    realm: wincri-test", f"    path: {path}"]


# ---- Token server --------------------------------------------------------------------------

def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues registry tokens for users with the right password or the right refresh token."""

    SERVICE = "wincri-test-registry"
    ISSUER = "wincri-test-issuer"

    def __init__(self, users, refresh_tokens=None, lifetime=300):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID
        self._padding, self._hashes = padding, hashes
        self.users = users
        self.refresh_tokens = refresh_tokens or {}
        self.lifetime = lifetime
        self.requests = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wincri test token")])
        now = datetime.datetime.utcnow()
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .sign(self.key, hashes.SHA256()))
        self.cert_der = self.cert.public_bytes(serialization.Encoding.DER)
        self.dir = tempfile.mkdtemp(prefix="wctok-")
        self.cert_path = os.path.join(self.dir, "cert.pem")
        with open(self.cert_path, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/token"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                server._handle(self, None)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                server._handle(self, urllib.parse.parse_qs(self.rfile.read(n).decode()))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def registry_auth(self):
        return ["auth:", "  token:", f"    realm: {self.url}", f"    service: {self.SERVICE}",
                f"    issuer: {self.ISSUER}", f"    rootcertbundle: {self.cert_path}"]

    def token(self, subject, scopes):
        access = []
        for sc in scopes:
            parts = sc.split(":")
            if len(parts) >= 3:
                access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                               "actions": parts[-1].split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": self.ISSUER, "sub": subject, "aud": self.SERVICE, "exp": now + self.lifetime,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = _b64url(json.dumps(header).encode()) + "." + \
            _b64url(json.dumps(claims).encode())
        sig = self.key.sign(signing_input.encode(), self._padding.PKCS1v15(), self._hashes.SHA256())
        return signing_input + "." + _b64url(sig)

    def _user(self, h, form):
        if form is not None:
            if form.get("grant_type", [""])[0] != "refresh_token":
                return None
            return self.refresh_tokens.get(form.get("refresh_token", [""])[0])
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return "" if "" in self.users else None
        user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        return user if self.users.get(user) == pw else None

    def _handle(self, h, form):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(h.path).query)
        scopes = (form or q).get("scope", [])
        self.requests.append({"method": h.command, "scopes": scopes})
        user = self._user(h, form)
        if user is None:
            h.send_response(401)
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            h.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
            return
        tok = self.token(user, scopes)
        body = {"access_token": tok} if form is not None else {"token": tok}
        body["expires_in"] = self.lifetime
        data = json.dumps(body).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- Counting proxy ------------------------------------------------------------------------

class CountingProxy:
    """Forwards to an upstream registry; counts requests by (method, path), records when each
    blob GET started and finished sending, and can serve blobs slowly (blob_delay, or delays
    per digest)."""

    def __init__(self, upstream_host, blob_delay=0.0):
        self.upstream = upstream_host
        self.blob_delay = blob_delay
        self.delays = {}  # digest -> seconds per 64 KiB chunk of that blob (over blob_delay)
        self.timeline = []  # (digest, time.time() at the request, when its body was sent)
        self.counts = {}
        self.lock = threading.Lock()
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy._forward(self)

            def do_HEAD(self):
                proxy._forward(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def blob_gets(self):
        with self.lock:
            return {p: n for (m, p), n in self.counts.items() if m == "GET" and "/blobs/" in p}

    def _forward(self, h):
        started = time.time()
        with self.lock:
            key = (h.command, h.path.split("?")[0])
            self.counts[key] = self.counts.get(key, 0) + 1
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(h.command, h.path, headers=headers)
        r = conn.getresponse()
        h.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("connection", "transfer-encoding"):
                continue
            h.send_header(k, v)
        body = r.read()
        if "Content-Length" not in r.headers:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command == "HEAD":
            conn.close()
            return
        is_blob = "/blobs/" in h.path
        digest = h.path.split("?")[0].rsplit("/", 1)[-1]
        delay = self.delays.get(digest, self.blob_delay) if is_blob else 0
        step = 64 * 1024
        for i in range(0, len(body), step):
            if delay and i:
                time.sleep(delay)
            h.wfile.write(body[i:i + step])
        h.wfile.flush()
        if is_blob:
            with self.lock:
                self.timeline.append((digest, started, time.time()))
        conn.close()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- A registry that misbehaves on purpose -------------------------------------------------

class BadRegistry:
    """Serves manifests and blobs from memory. modes[digest] is one of "500", "stall",
    "truncate", "corrupt", "404", or "slow" (the whole blob, slow_chunk bytes every slow_delay
    seconds); other blobs are served correctly."""

    def __init__(self, slow_chunk=32 * 1024, slow_delay=0.1):
        self.manifests = {}  # (repo, ref) -> (body, media_type)
        self.blobs = {}
        self.modes = {}
        self.slow_chunk, self.slow_delay = slow_chunk, slow_delay
        self.requests = []
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.stop_event = threading.Event()
        reg = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                reg._handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, repo, tag, img):
        self.manifests[(repo, tag)] = (img.manifest, img.manifest_type)
        self.manifests[(repo, img.digest)] = (img.manifest, img.manifest_type)
        self.blobs.update(img.blobs())

    def _send(self, h, status, body=b"", ctype="application/json", length=None):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h):
        path = h.path.split("?")[0]
        self.requests.append(path)
        if path == "/v2/":
            return self._send(h, 200, b"{}")
        parts = path[len("/v2/"):].split("/")
        if len(parts) < 3:
            return self._send(h, 404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
        repo, kind, ref = "/".join(parts[:-2]), parts[-2], parts[-1]
        if kind == "manifests":
            m = self.manifests.get((repo, ref))
            if not m:
                return self._send(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN",'
                                          b'"message":"manifest unknown"}]}')
            return self._send(h, 200, m[0], m[1])
        blob = self.blobs.get(ref)
        mode = self.modes.get(ref)
        if blob is None or mode == "404":
            return self._send(h, 404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        if mode == "500":
            return self._send(h, 500, b'{"errors":[{"code":"UNKNOWN","message":"boom"}]}')
        if mode == "corrupt":
            bad = bytearray(blob)
            bad[len(bad) // 2] ^= 0xFF
            return self._send(h, 200, bytes(bad), "application/octet-stream")
        if mode == "truncate":
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", str(len(blob)))
            h.end_headers()
            h.wfile.write(blob[: len(blob) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        if mode == "slow":
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", str(len(blob)))
            h.end_headers()
            for i in range(0, len(blob), self.slow_chunk):
                if self.stop_event.is_set():
                    break
                h.wfile.write(blob[i:i + self.slow_chunk])
                h.wfile.flush()
                time.sleep(self.slow_delay)
            return
        if mode == "stall":
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", str(len(blob)))
            h.end_headers()
            h.wfile.write(blob[: len(blob) // 2])
            h.wfile.flush()
            self.stop_event.wait(120)
            h.close_connection = True
            return
        return self._send(h, 200, blob, "application/octet-stream")

    def stop(self):
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
