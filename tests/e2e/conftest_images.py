"""Fixtures for the image tests (imported by tests/e2e/test_images*.py): registries on
127.0.0.1 sharing one storage dir (anonymous, htpasswd basic auth, bearer tokens), pushed
test images, and helpers to look at the image store on disk."""
import os
import shutil
import tempfile

import grpc
import pytest

import registry as R

BASIC_USER, BASIC_PASS = "alice", "s3cret-pw"
TOKEN_USER, TOKEN_PASS = "bob", "t0ken-pw"
REFRESH_TOKEN = "refresh-" + "x" * 24


class Registries:
    def __init__(self):
        self.storage = tempfile.mkdtemp(prefix="wcstore-")
        self.auth_dir = tempfile.mkdtemp(prefix="wcauth-")
        self.plain = R.Registry(self.storage)
        self.basic = R.Registry(self.storage, R.htpasswd_auth(
            os.path.join(self.auth_dir, "htpasswd"), BASIC_USER, BASIC_PASS))
        self.tokens = R.TokenServer({TOKEN_USER: TOKEN_PASS}, {REFRESH_TOKEN: TOKEN_USER})
        self.token = R.Registry(self.storage, self.tokens.registry_auth())
        self.pusher = R.Pusher(self.plain.url)
        self.base = R.busybox_layer()

    def push(self, repo, tag, img):
        self.pusher.image(repo, tag, img)
        return img

    def push_index(self, repo, tag, idx):
        self.pusher.index(repo, tag, idx)
        return idx

    def image(self, marker=None, **kw):
        top = R.Layer(R.TarBuilder().dir("etc").file("etc/marker",
                                                     marker or os.urandom(8).hex()).bytes())
        return R.Image([self.base, top], **kw)

    def stop(self):
        for r in (self.token, self.basic, self.plain):
            r.stop()
        self.tokens.stop()
        shutil.rmtree(self.storage, ignore_errors=True)
        shutil.rmtree(self.auth_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def registries():
    r = Registries()
    yield r
    r.stop()


@pytest.fixture
def bad_registry():
    b = R.BadRegistry()
    yield b
    b.stop()


def spec(pb, ref):
    return pb.ImageSpec(image=ref)


def pull(stub, pb, ref, auth=None, timeout=120, handler=""):
    req = pb.PullImageRequest(image=pb.ImageSpec(image=ref, runtime_handler=handler))
    if auth:
        req.auth.CopyFrom(pb.AuthConfig(**auth))
    return stub.PullImage(req, timeout=timeout).image_ref


def pull_error(stub, pb, ref, auth=None, timeout=120):
    with pytest.raises(grpc.RpcError) as ei:
        pull(stub, pb, ref, auth, timeout)
    return ei.value


def store_snapshot(daemon):
    """What the image store holds on disk, apart from the database files."""
    top = os.path.join(daemon.root, "images")
    out = set()
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            p = os.path.relpath(os.path.join(dirpath, n), top)
            if p.startswith("images.db"):
                continue
            out.add(p)
    return out


def status(stub, pb, ref, verbose=False):
    return stub.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=ref), verbose=verbose),
                            timeout=30)


@pytest.fixture(scope="module")
def img_daemon():
    """A daemon for one test module's image tests."""
    import conftest
    d = conftest.Daemon().start()
    yield d
    d.cleanup()


@pytest.fixture
def images(img_daemon):
    return img_daemon.image()
