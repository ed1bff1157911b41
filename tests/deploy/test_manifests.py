"""Every manifest in deploy/kubernetes/ checked against the Kubernetes API schema of the versions
the README names (tests/deploy/schema/kubernetes-1.27.schema.json, strict: an unknown or
misspelt field fails), plus what the schema cannot know: the manifests agree with each other,
with wincri's Windows config and with the numbers in wincri's Hyper-V code."""
import copy
import glob
import json
import os
import re
import subprocess

import jsonschema
import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(REPO, "deploy", "kubernetes")
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema", "kubernetes-1.27.schema.json")
WINCRID = os.environ.get("WINCRID", os.path.join(REPO, "build", "san", "wincrid"))


class StrictLoader(yaml.SafeLoader):
    """YAML that the API server's strict decoding would take: a key twice is an error."""


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_docs():
    docs = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "*.yaml"))):
        with open(path) as f:
            text = f.read()
        assert "\t" not in text, f"{path}: tabs are not YAML indentation"
        for doc in yaml.load_all(text, Loader=StrictLoader):
            if doc is not None:
                docs.append((os.path.basename(path), doc))
    return docs


DOCS = load_docs()

with open(SCHEMA_PATH) as _f:
    SCHEMA = json.load(_f)


def validator(kind_key):
    name = SCHEMA["x-kinds"][kind_key]
    return jsonschema.Draft7Validator({"$ref": f"#/definitions/{name}",
                                       "definitions": SCHEMA["definitions"]})


def kind_key(doc):
    return f"{doc.get('apiVersion')}/{doc.get('kind')}"


def errors(doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(kind_key(doc)).iter_errors(doc)]


def find(kind, name=None):
    out = [d for _, d in DOCS if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert out, f"no {kind} {name or ''} in deploy/kubernetes"
    return out


def c_define(path, name):
    with open(os.path.join(REPO, path)) as f:
        m = re.search(rf"#define\s+{name}\s+(\S+)", f.read())
    assert m, f"{name} not in {path}"
    return m.group(1).strip('"')


# ---- the schema itself and every document against it ---------------------------------------

def test_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    for name in SCHEMA["x-kinds"].values():
        assert name in SCHEMA["definitions"]


def test_the_expected_manifests_are_there():
    kinds = sorted(kind_key(d) for _, d in DOCS)
    assert kinds == sorted([
        "v1/Namespace", "v1/ConfigMap", "v1/ServiceAccount", "apps/v1/DaemonSet",
        "node.k8s.io/v1/RuntimeClass", "node.k8s.io/v1/RuntimeClass",
        "kubelet.config.k8s.io/v1beta1/KubeletConfiguration"])


@pytest.mark.parametrize("path,doc", DOCS, ids=[f"{p}:{d['kind']}:{d.get('metadata', {}).get('name', '')}"
                                                for p, d in DOCS])
def test_manifest_matches_the_api_schema(path, doc):
    assert kind_key(doc) in SCHEMA["x-kinds"], f"{path}: no schema for {kind_key(doc)}"
    assert errors(doc) == []


# The schema is strict: a misspelt field, a wrong type or a missing required field fails.
@pytest.mark.parametrize("kind,mutate,words", [
    ("RuntimeClass", lambda d: d.update(handlr=d.pop("handler")), "handlr"),
    ("RuntimeClass", lambda d: d.pop("handler"), "'handler' is a required property"),
    ("RuntimeClass", lambda d: d["overhead"]["podFixed"].update(memory="1 GiB"), "memory"),
    ("RuntimeClass", lambda d: d["scheduling"].update(nodeSelectors={}), "nodeSelectors"),
    ("DaemonSet", lambda d: d["spec"]["template"]["spec"]["securityContext"]["windowsOptions"]
     .update(hostprocess=True), "hostprocess"),
    ("DaemonSet", lambda d: d["spec"]["template"]["spec"].update(hostNetwork="true"),
     "'true' is not of type 'boolean'"),
    ("DaemonSet", lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"),
     "'name' is a required property"),
    ("DaemonSet", lambda d: d["spec"]["updateStrategy"].update(type="Rolling"), "Rolling"),
    ("ConfigMap", lambda d: d["data"].update(n=5), "5 is not of type 'string'"),
    ("KubeletConfiguration", lambda d: d.update(containerRuntimeEndPoint="x"),
     "containerRuntimeEndPoint"),
    ("KubeletConfiguration", lambda d: d.update(cgroupsPerQOS="false"), "not of type 'boolean'"),
])
def test_schema_refuses_what_the_api_would(kind, mutate, words):
    doc = copy.deepcopy(find(kind)[-1])
    mutate(doc)
    errs = errors(doc)
    assert errs and any(words in e for e in errs), errs


def test_duplicate_keys_are_refused():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("a: 1\nb: 2\na: 3\n", Loader=StrictLoader)


# ---- what the schema cannot know -------------------------------------------------------------

def windows_defaults():
    """wincri's embedded Windows config (common/config_defaults_win32.c) as JSON."""
    with open(os.path.join(REPO, "common", "config_defaults_win32.c")) as f:
        src = f.read()
    body = src[src.index("default_text[] =") + len("default_text[] ="):src.index(";\n")]
    text = "".join(json.loads(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', body))
    return json.loads(text)


def configmap_config():
    cm = find("ConfigMap", "wincri-config")[0]
    return json.loads(cm["data"]["config.json"])


def test_runtime_classes_match_wincri_handlers():
    handlers = {rc["handler"] for rc in find("RuntimeClass")}
    assert handlers == set(windows_defaults()["runtime_handlers"])
    assert handlers == set(configmap_config()["runtime_handlers"])
    assert handlers == {c_define("hcs/hcsdoc.h", "HCS_HANDLER_PROCESS"),
                        c_define("hcs/hcsdoc.h", "HCS_HANDLER_HYPERV")}
    for rc in find("RuntimeClass"):
        assert rc["metadata"]["name"] == rc["handler"]
        sel = rc["scheduling"]["nodeSelector"]
        assert sel["kubernetes.io/os"] == "windows"
        assert re.fullmatch(r"10\.0\.\d+", sel["node.kubernetes.io/windows-build"])


def test_hyperv_overhead_is_what_wincri_asks_hcs_for():
    rc = find("RuntimeClass", "runhcs-wcow-hypervisor")[0]
    mb = int(c_define("hcs/hcsdoc.h", "HCS_UVM_DEFAULT_MEMORY_MB"))
    assert rc["overhead"]["podFixed"] == {"memory": f"{mb}Mi"}
    # The document builder really uses that default for the VM's memory.
    with open(os.path.join(REPO, "hcs", "hcsdoc_uvm.c")) as f:
        assert "o->memory_mb ? o->memory_mb : HCS_UVM_DEFAULT_MEMORY_MB" in f.read()
    assert "overhead" not in find("RuntimeClass", "runhcs-wcow-process")[0]


@pytest.mark.skipif(not os.access(WINCRID, os.X_OK), reason="wincrid not built")
def test_configmap_config_is_accepted_by_wincrid(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(find("ConfigMap", "wincri-config")[0]["data"]["config.json"])
    r = subprocess.run([WINCRID, "--check-config", "--config", str(p)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    # The image's default config too.
    r = subprocess.run([WINCRID, "--check-config", "--config",
                        os.path.join(REPO, "deploy", "windows", "installer", "config.json")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_configmap_keys_are_windows_keys():
    defaults, cfg = windows_defaults(), configmap_config()
    assert set(cfg) <= set(defaults)
    for k, v in cfg.items():
        if isinstance(v, dict) and k not in ("runtime_handlers", "registries"):
            assert set(v) <= set(defaults[k]), k


def test_kubelet_talks_to_wincris_pipe():
    kc = find("KubeletConfiguration")[0]
    listen = configmap_config()["listen"]
    assert listen == windows_defaults()["listen"]
    assert kc["containerRuntimeEndpoint"] == listen == kc["imageServiceEndpoint"]
    assert kc["cgroupsPerQOS"] is False and kc["enforceNodeAllocatable"] == []
    assert not (kc.get("serializeImagePulls", True) and "maxParallelImagePulls" in kc)


def test_installer_daemonset():
    ds = find("DaemonSet", "wincri-installer")[0]
    ns = ds["metadata"]["namespace"]
    namespace = find("Namespace", ns)[0]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    spec = ds["spec"]
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert pod["nodeSelector"]["kubernetes.io/os"] == "windows"
    assert pod["hostNetwork"] is True
    assert pod["securityContext"]["windowsOptions"] == {
        "hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}
    sa = find("ServiceAccount", pod["serviceAccountName"])[0]
    assert sa["metadata"]["namespace"] == ns and sa["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is False
    (vol,) = pod["volumes"]
    cm = find("ConfigMap", vol["configMap"]["name"])[0]
    assert cm["metadata"]["namespace"] == ns
    (c,) = pod["containers"]
    (mount,) = c["volumeMounts"]
    assert mount["name"] == vol["name"] and mount["readOnly"] is True
    # install.ps1 reads the ConfigMap where the mount puts it and writes the file the
    # readiness probe looks for.
    with open(os.path.join(REPO, "deploy", "windows", "installer", "install.ps1")) as f:
        script = f.read()
    sub = mount["mountPath"].strip("/").replace("/", "\\\\")
    assert re.search(r'Join-Path \$src "' + sub + r'\\config\.json"', script), sub
    probe = " ".join(c["readinessProbe"]["exec"]["command"])
    assert "C:\\ProgramData\\wincri\\installer\\%POD_NAME%.ready" in probe
    assert '$ReadyDir = Join-Path $DataDir "installer"' in script
    assert '"$env:POD_NAME.ready"' in script
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in c["env"]
    assert "install.ps1" in c["command"][-1]
    # The service verbs it relies on (the Windows service command, not in this tree yet).
    for verb in ("install", "start", "stop", "status"):
        assert f'"service", "{verb}"' in script or f"service {verb}" in script, verb


def test_every_object_is_labelled_and_namespaced_where_it_should_be():
    cluster_scoped = {"Namespace", "RuntimeClass"}
    for _, d in DOCS:
        if d["kind"] == "KubeletConfiguration":
            continue
        assert d["metadata"]["labels"]["app.kubernetes.io/name"] == "wincri"
        assert ("namespace" in d["metadata"]) == (d["kind"] not in cluster_scoped), d["kind"]
