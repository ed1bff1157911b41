"""Validates every HCS document wincri builds against Microsoft's HCS schema, made strict.

The schema is the facts-only copy of the Windows 11 SDK 21H2 HCS schema
(tests/windows/hcs-schema-21h2.json). "Strict" adds additionalProperties: false to every
object definition, so a misspelt or invented key fails instead of being ignored by HCS.

The documents come from the cmocka golden test: `make VARIANT=san
build/san/tests/test_hcsdoc`, run with WINCRI_DOC_OUT=<dir>, writes each produced document
as <name>.<Definition>.json. Set WINCRI_TEST_HCSDOC_BIN to use an already built binary.

Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/windows/test_hcs_schema.py
(needs python3-jsonschema and python3-pytest).
"""
import copy
import json
import os
import pathlib
import re
import subprocess

import pytest

jsonschema = pytest.importorskip("jsonschema")

REPO = pathlib.Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "tests" / "windows" / "hcs-schema-21h2.json"

# Kinds of document the C code must have produced at least once.
EXPECTED_DEFINITIONS = {
    "ComputeSystem",
    "HostedSystem",
    "ModifySettingRequest",
    "ProcessParameters",
    "ProcessModifyRequest",
    "SignalProcessOptions",
    "System_PropertyQuery",
    "SystemQuery",
    "Properties",
    "ResultError",
}


def strict_definitions():
    defs = json.loads(SCHEMA_FILE.read_text())["definitions"]
    defs = copy.deepcopy(defs)
    for d in defs.values():
        if d.get("type") == "object" and "properties" in d and "additionalProperties" not in d:
            d["additionalProperties"] = False
    return defs


DEFS = strict_definitions()


def validator(definition):
    assert definition in DEFS, f"unknown schema definition {definition}"
    schema = {"$ref": f"#/definitions/{definition}", "definitions": DEFS}
    return jsonschema.Draft7Validator(schema)


def errors_of(doc, definition, where):
    return [f"{where}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator(definition).iter_errors(doc)]


# Guest requests whose ResourceType the 21H2 public schema lists, and their Settings types.
GUEST_SETTINGS = {"MappedVirtualDisk": "MappedVirtualDisk", "CombinedLayers": "CombinedLayers"}
GUID = re.compile(r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")


def check_guest_request(gr, where):
    errs = []
    rtype = gr.get("ResourceType")
    if rtype == "Network":
        # The network guest request (hcsshim guestrequest.NetworkModifyRequest) is not in the
        # public 21H2 schema; check its shape by hand.
        if set(gr) - {"ResourceType", "RequestType", "Settings"}:
            errs.append(f"{where}: unexpected keys {sorted(set(gr))}")
        errs += errors_of(gr.get("RequestType"), "ModifyRequestType", where + "/RequestType")
        inner = gr.get("Settings", {})
        if set(inner) - {"AdapterId", "RequestType", "Settings"}:
            errs.append(f"{where}/Settings: unexpected keys {sorted(inner)}")
        if not GUID.match(inner.get("AdapterId", "")):
            errs.append(f"{where}/Settings/AdapterId: not a GUID")
        if inner.get("RequestType") not in ("PreAdd", "Add", "Remove"):
            errs.append(f"{where}/Settings/RequestType: {inner.get('RequestType')!r}")
        return errs
    errs += errors_of(gr, "GuestModifySettingRequest", where)
    if rtype not in GUEST_SETTINGS:
        errs.append(f"{where}: no Settings type known for ResourceType {rtype!r}")
    elif "Settings" in gr:
        errs += errors_of(gr["Settings"], GUEST_SETTINGS[rtype], where + "/Settings")
    return errs


RESOURCE_SETTINGS = [
    (re.compile(r"^VirtualMachine/Devices/VirtualSmb/Shares$"), "VirtualSmbShare"),
    (re.compile(r"^VirtualMachine/Devices/Scsi/[^/]+/Attachments/\d+$"), "Attachment"),
    (re.compile(r"^VirtualMachine/Devices/NetworkAdapters/[^/]+$"), "NetworkAdapter"),
    (re.compile(r"^VirtualMachine/Devices/MappedPipes/.+$"), None),
    (re.compile(r"^VirtualMachine/Devices/HvSocket/HvSocketConfig/ServiceTable/"
                r"[0-9A-Fa-f-]{36}$"), "HvSocketServiceConfig"),
]


def check_modify(doc, where):
    errs = errors_of(doc, "ModifySettingRequest", where)
    path = doc.get("ResourcePath")
    if path is not None:
        for rx, definition in RESOURCE_SETTINGS:
            if rx.match(path):
                if definition and "Settings" in doc:
                    errs += errors_of(doc["Settings"], definition, where + "/Settings")
                elif not definition and "Settings" in doc:
                    errs.append(f"{where}: {path} takes no Settings")
                break
        else:
            errs.append(f"{where}: unknown ResourcePath {path!r}")
    elif "Settings" in doc:
        errs.append(f"{where}: Settings without ResourcePath")
    if "GuestRequest" in doc:
        errs += check_guest_request(doc["GuestRequest"], where + "/GuestRequest")
    return errs


# Container Credential Guard operations and their details (hcsshim internal/credentials).
CCG_DETAILS = {"AddInstance": "ContainerCredentialGuardAddInstanceRequest",
               "RemoveInstance": "ContainerCredentialGuardRemoveInstanceRequest"}


def check_service_modify(doc, where):
    """HcsModifyServiceSettings: a ModificationRequest whose Settings are a
    ContainerCredentialGuardOperationRequest."""
    errs = errors_of(doc, "ModificationRequest", where)
    if doc.get("PropertyType") != "ContainerCredentialGuard":
        return errs + [f"{where}: PropertyType {doc.get('PropertyType')!r}"]
    settings = doc.get("Settings", {})
    errs += errors_of(settings, "ContainerCredentialGuardOperationRequest", where + "/Settings")
    details = CCG_DETAILS.get(settings.get("Operation"))
    if details:
        errs += errors_of(settings.get("OperationDetails", {}), details,
                          where + "/Settings/OperationDetails")
    return errs


def check_document(path):
    name, definition = path.name[: -len(".json")].rsplit(".", 1)
    doc = json.loads(path.read_text())
    where = path.name
    if definition == "ModifySettingRequest":
        return definition, check_modify(doc, where)
    if definition == "ModificationRequest":
        return definition, check_service_modify(doc, where)
    errs = errors_of(doc, definition, where)
    if definition == "ComputeSystem" and "HostedSystem" in doc:
        errs += errors_of(doc["HostedSystem"], "HostedSystem", where + "/HostedSystem")
        if "Container" in doc or "VirtualMachine" in doc:
            errs.append(f"{where}: a hosted document carries only HostedSystem")
    return definition, errs


@pytest.fixture(scope="session")
def produced(tmp_path_factory):
    binary = os.environ.get("WINCRI_TEST_HCSDOC_BIN")
    if not binary:
        subprocess.run(["make", "VARIANT=san", "build/san/tests/test_hcsdoc"], cwd=REPO,
                       check=True)
        binary = str(REPO / "build" / "san" / "tests" / "test_hcsdoc")
    out = tmp_path_factory.mktemp("hcsdocs")
    env = dict(os.environ, WINCRI_DOC_OUT=str(out))
    env.setdefault("WINCRI_GOLDEN_DIR", str(REPO / "tests" / "windows" / "golden"))
    run = subprocess.run([binary], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"test_hcsdoc failed:\n{run.stdout}\n{run.stderr}"
    return sorted(out.glob("*.json"))


def test_every_produced_document_is_schema_valid(produced):
    assert len(produced) >= 30, f"only {len(produced)} documents were produced"
    seen, problems = set(), []
    for path in produced:
        definition, errs = check_document(path)
        seen.add(definition)
        problems += errs
    assert not problems, "schema violations:\n" + "\n".join(problems)
    missing = EXPECTED_DEFINITIONS - seen
    assert not missing, f"no document produced for {sorted(missing)}"


def test_goldens_are_schema_valid_too():
    """The hand-written goldens are held to the same schema, so a golden cannot encode a
    document HCS would reject."""
    golden = REPO / "tests" / "windows" / "golden"
    kinds = {
        "process_": "ComputeSystem", "hyperv_uvm_": "ComputeSystem", "exec_": "ProcessParameters",
        "query_owned": "SystemQuery", "query_": "System_PropertyQuery",
        "result_error_": "ResultError", "stats_": "Properties", "process_list_": "Properties",
    }
    overrides = {"process_resize.json": "ProcessModifyRequest",
                 "process_close_stdin.json": "ProcessModifyRequest",
                 "process_signal_shutdown.json": "SignalProcessOptions",
                 "process_list_properties.json": "Properties",
                 "hyperv_c1_doc.json": "ComputeSystem", "hyperv_c2_doc.json": "ComputeSystem"}
    problems, checked = [], 0
    for path in sorted(golden.glob("*.json")):
        doc = json.loads(path.read_text())
        if path.name.startswith(("hyperv_c1_modify", "hyperv_c2_modify", "hyperv_release_")):
            for i, req in enumerate(doc):
                problems += check_modify(req, f"{path.name}[{i}]")
            checked += 1
            continue
        if path.name.startswith(("ccg_add_", "ccg_remove")):
            problems += check_service_modify(doc, path.name)
            checked += 1
            continue
        if path.name == "ccg_hvsocket_service.json":
            problems += check_modify(doc, path.name)
            checked += 1
            continue
        if path.name == "ccg_properties.json":  # ServiceProperties of one SystemInfo
            for i, p in enumerate(doc["Properties"]):
                problems += errors_of(p, "ContainerCredentialGuardSystemInfo",
                                      f"{path.name}/Properties/{i}")
            checked += 1
            continue
        if path.name.startswith("hyperv_nic_") and path.name != "hyperv_nic_endpoint.json":
            problems += check_modify(doc, path.name)
            checked += 1
            continue
        definition = overrides.get(path.name)
        if not definition:
            definition = next((d for p, d in kinds.items() if path.name.startswith(p)), None)
        if not definition:
            continue  # specs and HNS inputs are not HCS documents
        problems += errors_of(doc, definition, path.name)
        if "HostedSystem" in doc:
            problems += errors_of(doc["HostedSystem"], "HostedSystem", path.name + "/HostedSystem")
        checked += 1
    assert checked >= 25, f"only {checked} goldens checked"
    assert not problems, "\n".join(problems)


def test_strict_schema_rejects_unknown_keys():
    assert errors_of({"Owner": "x", "Bogus": 1}, "ComputeSystem", "probe")
    assert errors_of({"Container": {"Storage": {"Layers": [{"Id": "not-a-guid"}]}}},
                     "ComputeSystem", "probe")
    assert not errors_of({"Owner": "x"}, "ComputeSystem", "probe")
