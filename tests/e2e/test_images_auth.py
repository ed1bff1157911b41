"""Registry authentication and mirrors: htpasswd basic auth, the bearer token flow (password,
identity token, registry token, token caching) and mirror fallback keeping the image's name."""
import base64

import grpc
import pytest

import registry as R
from conftest_images import (BASIC_PASS, BASIC_USER, REFRESH_TOKEN, TOKEN_PASS,  # noqa: F401
                             TOKEN_USER, images, img_daemon, pull, pull_error, registries, status)


@pytest.fixture(scope="module")
def authed(registries):
    """One image visible through all three registries (they share storage)."""
    return registries.push("auth/app", "v1", registries.image())


def test_basic_auth(pb, registries, authed, images):
    ref = f"{registries.basic.host}/auth/app:v1"
    e = pull_error(images, pb, ref)
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "no credentials" in e.details()
    e = pull_error(images, pb, ref, {"username": BASIC_USER, "password": "wrong"})
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED
    assert pull(images, pb, ref, {"username": BASIC_USER, "password": BASIC_PASS}) == authed.id
    b64 = base64.b64encode(f"{BASIC_USER}:{BASIC_PASS}".encode()).decode()
    assert pull(images, pb, ref, {"auth": b64}) == authed.id
    e = pull_error(images, pb, ref, {"auth": "not base64!"})
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_basic_auth_from_config(pb, registries, authed, daemon_factory):
    d = daemon_factory({"registries": {registries.basic.host: {
        "username": BASIC_USER, "password": BASIC_PASS}}})
    assert pull(d.image(), pb, f"{registries.basic.host}/auth/app:v1") == authed.id


def test_bearer_password_and_token_cache(pb, registries, authed, images):
    ref = f"{registries.token.host}/auth/app:v1"
    e = pull_error(images, pb, ref)
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED
    assert registries.tokens.url in e.details()
    e = pull_error(images, pb, ref, {"username": TOKEN_USER, "password": "nope"})
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED
    creds = {"username": TOKEN_USER, "password": TOKEN_PASS}
    n = len(registries.tokens.requests)
    assert pull(images, pb, ref, creds) == authed.id
    asked = registries.tokens.requests[n:]
    assert len(asked) == 1 and asked[0]["scopes"] == ["repository:auth/app:pull"]
    # the token is cached for its scope: a second pull asks the token server nothing
    registries.push("auth/app", "v2", registries.image())
    n = len(registries.tokens.requests)
    pull(images, pb, f"{registries.token.host}/auth/app:v2", creds)
    assert len(registries.tokens.requests) == n


def test_bearer_identity_token(pb, registries, authed, images):
    ref = f"{registries.token.host}/auth/app:v1"
    n = len(registries.tokens.requests)
    assert pull(images, pb, ref, {"identity_token": REFRESH_TOKEN}) == authed.id
    assert registries.tokens.requests[n]["method"] == "POST"
    e = pull_error(images, pb, ref, {"identity_token": "bogus"})
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED


def test_bearer_registry_token(pb, registries, authed, images):
    ref = f"{registries.token.host}/auth/app:v1"
    tok = registries.tokens.token(TOKEN_USER, ["repository:auth/app:pull"])
    n = len(registries.tokens.requests)
    assert pull(images, pb, ref, {"registry_token": tok}) == authed.id
    assert len(registries.tokens.requests) == n


def test_mirror_fallback_keeps_name(pb, registries, daemon_factory):
    img = registries.push("pause", "3.9", registries.image())
    dead = f"http://127.0.0.1:{R.free_port()}"
    d = daemon_factory({"registries": {"registry.k8s.io": {
        "mirrors": [dead, registries.plain.url]}}})
    stub = d.image()
    assert pull(stub, pb, "registry.k8s.io/pause:3.9") == img.id
    st = status(stub, pb, "registry.k8s.io/pause:3.9").image
    assert list(st.repo_tags) == ["registry.k8s.io/pause:3.9"]
    assert list(st.repo_digests) == [f"registry.k8s.io/pause@{img.digest}"]
    assert "mirror failed" in d.log() and dead in d.log()


def test_mirror_with_auth_settings(pb, registries, daemon_factory):
    img = registries.push("mirrored/app", "v1", registries.image())
    d = daemon_factory({"registries": {
        "example.invalid": {"mirrors": [registries.basic.url]},
        registries.basic.host: {"username": BASIC_USER, "password": BASIC_PASS}}})
    assert pull(d.image(), pb, "example.invalid/mirrored/app:v1") == img.id
