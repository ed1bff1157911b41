/* Golden tests of the OCI → HCS document translation (hcs/hcsdoc.h).
 *
 * Every expected document under tests/windows/golden/ was written by hand from hcsshim's
 * source (the file and function are named next to each scenario below), never produced by
 * the code under test. Every document the code produces is also written, when the
 * environment variable WINCRI_DOC_OUT names a directory, as <name>.<Definition>.json so
 * tests/windows/test_hcs_schema.py can validate it against Microsoft's HCS schema made
 * strict. WINCRI_GOLDEN_DIR overrides the golden directory (default: tests/windows/golden,
 * relative to the repository root where `make unit` runs). */
#include "tests/unit/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hcs/hcsdoc.h"
#include "hcs/winstr.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static json_t *golden(const char *name)
{
    const char *dir = getenv("WINCRI_GOLDEN_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/windows/golden", name);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("cannot load golden %s: %s (line %d)", path, jerr.text, jerr.line);
    return j;
}

static char *golden_text(const char *name)
{
    json_t *j = golden(name);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* Writes a produced document for the schema test: <dir>/<name>.<definition>.json. */
static void emit(const char *name, const char *definition, const json_t *doc)
{
    const char *dir = getenv("WINCRI_DOC_OUT");
    if (!dir || !*dir)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s.json", dir, name, definition);
    assert_int_equal(json_dump_file(doc, path, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
}

static void assert_golden(const json_t *got, const char *golden_name)
{
    json_t *want = golden(golden_name);
    if (!json_equal(want, (json_t *)got)) {
        char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_INDENT(2) | JSON_SORT_KEYS);
        print_error("golden %s differs\n--- want\n%s\n--- got\n%s\n", golden_name, w, g);
        free(g);
        free(w);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

/* Layer GUIDs of the fixtures (on Windows they come from NameToGuid of the folder name). */
static const char *const ids_ab[] = {"7e1a3b1f-0c2d-5e4f-8a9b-1c2d3e4f5a6b",
                                     "0b9f4c2e-3d1a-5b6c-9d8e-7f6a5b4c3d2e"};
static const char *const ids_base[] = {"5c6d7e8f-9a0b-5c1d-8e2f-3a4b5c6d7e8f"};

/* Builds a process-isolated container document from a golden spec and compares it. */
static void check_process_doc(const char *spec_file, const char *golden_file,
                              const char *const *ids, size_t n_ids)
{
    json_t *spec = golden(spec_file);
    hcs_container_opts o = {.layer_ids = ids, .n_layer_ids = n_ids, .host_cpus = 8};
    json_t *doc = NULL;
    wc_err err = {0};
    int rc = hcs_doc_container(spec, &o, &doc, &err);
    if (rc != 0)
        fail_msg("hcs_doc_container(%s): %s", spec_file, err.msg);
    emit(golden_file, "ComputeSystem", doc);
    assert_golden(doc, golden_file);
    json_decref(doc);
    json_decref(spec);
}

/* ---- process isolation ------------------------------------------------------------------ */

/* Scenario: single container.
 * hcsshim internal/hcsoci/hcsdoc_wcow.go createWindowsContainerDocument (v2 Argon: Storage.Layers
 * top-most first with their LayerID, Storage.Path = Root.Path with a trailing backslash added,
 * GuestOs.HostName, Networking.Namespace + DnsSearchList joined with ","), wrapped by
 * internal/hcsoci/create.go CreateContainer into ComputeSystem{Owner, SchemaVersion 2.1,
 * Container}. */
static void process_single(void **state)
{
    check_process_doc("spec_process_single.json", "process_single.json", ids_ab, 2);
}

/* Scenario: two containers sharing a network namespace (the pod's sandbox and a workload).
 * hcsshim hcsdoc_wcow.go createWindowsContainerDocument: both documents carry the same
 * Networking.Namespace (coi.actualNetworkNamespace); AllowUnqualifiedDnsQuery copied. */
static void process_shared_namespace(void **state)
{
    static const char *const pause_id[] = {"aaaaaaaa-0000-5000-8000-000000000001"};
    static const char *const app_ids[] = {"aaaaaaaa-0000-5000-8000-000000000002",
                                          "aaaaaaaa-0000-5000-8000-000000000003"};
    check_process_doc("spec_shared_ns_sandbox.json", "process_shared_ns_sandbox.json", pause_id, 1);
    check_process_doc("spec_shared_ns_app.json", "process_shared_ns_app.json", app_ids, 2);
}

/* Scenario: read-only and read-write mounts.
 * hcsshim hcsdoc_wcow.go createWindowsContainerDocument: MappedDirectory{HostPath,
 * ContainerPath, ReadOnly} with ReadOnly set by an "ro" option (omitted when false). */
static void process_mounts(void **state)
{
    check_process_doc("spec_process_mounts.json", "process_mounts.json", ids_base, 1);
}

/* Scenario: a named-pipe mount.
 * hcsshim hcsdoc_wcow.go createWindowsContainerDocument with internal/uvm/pipes.go IsPipe /
 * GetContainerPipeMapping: source \\.\pipe\x → MappedPipe{HostPath source,
 * ContainerPipeName destination without the \\.\pipe\ prefix}. */
static void process_named_pipe(void **state)
{
    check_process_doc("spec_process_pipe.json", "process_pipe.json", ids_base, 1);
}

/* Scenarios: each CPU limit kind (count, maximum, shares → Weight).
 * hcsshim hcsdoc_wcow.go createWindowsContainerDocument: exactly one of Processor.Count /
 * Maximum / Weight, the others omitted; count lowered to the host's processors. */
static void process_cpu_count(void **state)
{
    check_process_doc("spec_process_cpu_count.json", "process_cpu_count.json", ids_base, 1);
}

static void process_cpu_maximum(void **state)
{
    check_process_doc("spec_process_cpu_maximum.json", "process_cpu_maximum.json", ids_base, 1);
}

static void process_cpu_shares(void **state)
{
    check_process_doc("spec_process_cpu_shares.json", "process_cpu_shares.json", ids_base, 1);
}

/* Scenario: memory limit.
 * hcsshim hcsdoc_wcow.go createWindowsContainerDocument: Memory.SizeInMB = limit bytes / 1 MiB. */
static void process_memory(void **state)
{
    check_process_doc("spec_process_memory.json", "process_memory.json", ids_base, 1);
}

/* Scenario: an assigned device.
 * hcsshim hcsdoc_wcow.go parseAssignedDevices: idType "class" → Device{InterfaceClassGuid}. */
static void process_device(void **state)
{
    check_process_doc("spec_process_device.json", "process_device.json", ids_base, 1);
}

static void cpu_kinds_are_exclusive(void **state)
{
    json_t *spec = golden("spec_process_cpu_count.json");
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(spec, "windows"), "resources"), "cpu"),
        "shares", json_integer(100));
    hcs_container_opts o = {.layer_ids = ids_base, .n_layer_ids = 1};
    json_t *doc = NULL;
    wc_err err = {0};
    assert_int_equal(hcs_doc_container(spec, &o, &doc, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "mutually exclusive"));
    assert_null(doc);
    json_decref(spec);
}

static void cpu_count_clamped_and_annotation_wins(void **state)
{
    json_t *spec = golden("spec_process_cpu_count.json");
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(spec, "windows"), "resources"), "cpu"),
        "count", json_integer(64));
    hcs_container_opts o = {.layer_ids = ids_base, .n_layer_ids = 1, .host_cpus = 4};
    json_t *doc = NULL;
    wc_err err = {0};
    assert_int_equal(hcs_doc_container(spec, &o, &doc, &err), 0);
    json_t *cpu = json_object_get(json_object_get(doc, "Container"), "Processor");
    assert_int_equal(json_integer_value(json_object_get(cpu, "Count")), 4);
    json_decref(doc);
    /* io.microsoft.container.memory.sizeinmb overrides the spec's memory limit */
    json_object_set_new(spec, "annotations", json_pack("{s:s}", HCS_ANNOTATION_MEMORY, "300"));
    json_object_set_new(json_object_get(json_object_get(spec, "windows"), "resources"), "memory",
                        json_pack("{s:I}", "limit", (json_int_t)1 << 30));
    assert_int_equal(hcs_doc_container(spec, &o, &doc, &err), 0);
    json_t *mem = json_object_get(json_object_get(doc, "Container"), "Memory");
    assert_int_equal(json_integer_value(json_object_get(mem, "SizeInMB")), 300);
    emit("process_annotation_memory", "ComputeSystem", doc);
    json_decref(doc);
    json_object_set_new(spec, "annotations", json_pack("{s:s}", HCS_ANNOTATION_MEMORY, "lots"));
    assert_int_equal(hcs_doc_container(spec, &o, &doc, &err), -1);
    assert_non_null(strstr(err.msg, HCS_ANNOTATION_MEMORY));
    json_decref(spec);
}

static void wait_to_kill_registry_change(void **state)
{
    json_t *spec = golden("spec_process_memory.json");
    hcs_container_opts o = {
        .layer_ids = ids_base, .n_layer_ids = 1, .wait_to_kill_service_ms = 5000};
    json_t *doc = NULL;
    wc_err err = {0};
    assert_int_equal(hcs_doc_container(spec, &o, &doc, &err), 0);
    json_t *v = json_array_get(
        json_object_get(json_object_get(json_object_get(doc, "Container"), "RegistryChanges"),
                        "AddValues"),
        0);
    assert_string_equal(json_string_value(json_object_get(v, "Name")), "WaitToKillServiceTimeout");
    assert_string_equal(json_string_value(json_object_get(v, "StringValue")), "5000");
    assert_string_equal(json_string_value(json_object_get(v, "Type")), "String");
    emit("process_registry", "ComputeSystem", doc);
    json_decref(doc);
    json_decref(spec);
}

static void invalid_specs_are_rejected(void **state)
{
    struct {
        const char *patch; /* JSON merged into the base spec */
        const char *needle;
    } cases[] = {
        {"{\"root\": {\"path\": \"C:\\\\scratch\"}}", "root.path"},
        {"{\"root\": {\"path\": \"\\\\\\\\?\\\\Volume{0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}\", "
         "\"readonly\": true}}",
         "root.readonly"},
        {"{\"mounts\": [{\"destination\": \"C:\\\\x\", \"source\": \"C:\\\\y\", \"type\": "
         "\"tmpfs\"}]}",
         "tmpfs"},
        {"{\"mounts\": [{\"destination\": \"C:\\\\x\"}]}", "source and destination"},
        {"{\"windows\": {\"layerFolders\": [\"C:\\\\only\"]}}", "layerFolders"},
        {"{\"windows\": {\"layerFolders\": [\"C:\\\\a\", \"C:\\\\b\", \"C:\\\\s\"]}}", "layer ids"},
        {"{\"windows\": {\"layerFolders\": [\"C:\\\\a\", \"C:\\\\s\"], \"devices\": [{\"id\": "
         "\"x\", \"idType\": \"gpu\"}]}}",
         "idType"},
        {"{\"windows\": {\"layerFolders\": [\"C:\\\\a\", \"C:\\\\s\"], \"resources\": {\"cpu\": "
         "{\"maximum\": 20000}}}}",
         "1..10000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *spec = golden("spec_process_memory.json");
        json_t *patch = json_loads(cases[i].patch, 0, NULL);
        assert_non_null(patch);
        json_object_update(spec, patch);
        json_decref(patch);
        hcs_container_opts o = {.layer_ids = ids_base, .n_layer_ids = 1};
        json_t *doc = NULL;
        wc_err err = {0};
        assert_int_equal(hcs_doc_container(spec, &o, &doc, &err), -1);
        assert_int_equal(err.code, WC_INVALID_ARGUMENT);
        if (!strstr(err.msg, cases[i].needle))
            fail_msg("case %u: \"%s\" lacks \"%s\"", (unsigned)i, err.msg, cases[i].needle);
        json_decref(spec);
    }
}

/* ---- Hyper-V ------------------------------------------------------------------------------ */

/* Scenario: a UVM with the default size, and one sized by pod annotations.
 * hcsshim internal/uvm/create_wcow.go CreateWCOW (the VmbFs UEFI boot of
 * \EFI\Microsoft\Boot\bootmgfw.efi from the "os" VSMB share over <base layer>\UtilityVM\Files
 * with read-only VSMB options, SCSI 0:0 scratch, HvSocket bind SDDL, GuestConnection {},
 * StopOnReset) and NewDefaultOptionsWCOW (1024 MB, AllowOvercommit so EnableHotHint, 2 CPUs);
 * the annotations are hcsshim's pkg/annotations MemorySizeInMB / ProcessorCount. */
static void hyperv_uvm_default(void **state)
{
    hcs_uvm_opts o = {.uvm_folder = "C:\\ProgramData\\wincri\\layers\\sha256-bbbb",
                      .scratch_vhdx =
                          "C:\\ProgramData\\wincri\\sandboxes\\pod1\\uvm\\sandbox.vhdx"};
    json_t *doc = NULL;
    wc_err err = {0};
    assert_int_equal(hcs_doc_uvm(&o, &doc, &err), 0);
    emit("hyperv_uvm_default", "ComputeSystem", doc);
    assert_golden(doc, "hyperv_uvm_default.json");
    json_decref(doc);
}

static void hyperv_uvm_custom_size(void **state)
{
    hcs_uvm_opts o = {.uvm_folder = "C:\\ProgramData\\wincri\\layers\\sha256-bbbb\\",
                      .scratch_vhdx = "C:\\ProgramData\\wincri\\sandboxes\\pod1\\uvm\\sandbox.vhdx",
                      .host_cpus = 16};
    json_t *ann = json_pack("{s:s,s:s,s:s}", HCS_ANNOTATION_UVM_MEMORY, "4096",
                            HCS_ANNOTATION_UVM_CPUS, "4", "io.kubernetes.cri.sandbox-id", "x");
    wc_err err = {0};
    assert_int_equal(hcs_uvm_opts_from_annotations(ann, &o, &err), 0);
    json_t *doc = NULL;
    assert_int_equal(hcs_doc_uvm(&o, &doc, &err), 0);
    emit("hyperv_uvm_custom", "ComputeSystem", doc);
    assert_golden(doc, "hyperv_uvm_custom.json");
    json_decref(doc);
    json_object_set_new(ann, HCS_ANNOTATION_UVM_CPUS, json_string("0"));
    assert_int_equal(hcs_uvm_opts_from_annotations(ann, &o, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    json_decref(ann);
}

/* gMSA and process dumps in a process-isolated container, as hcsshim's
 * createWindowsContainerDocument (internal/hcsoci/hcsdoc_wcow.go) writes them: the CCG
 * instance's state as Container.ContainerCredentialGuard (coi.ccgState, from
 * internal/credentials/credentials.go CreateCredentialGuard), RegistryChanges.AddValues =
 * WaitToKillServiceTimeout String strconv.Itoa(math.MaxInt32) under System
 * ControlSet001\Control, then for annotations.ContainerProcessDumpLocation the WER
 * LocalDumps DumpFolder (String) and DumpType (DWord, parseDumpType: "mini" 1, "full" or
 * absent 2, anything else an error). */
static void gmsa_and_process_dump(void **state)
{
    json_t *spec = golden("spec_process_gmsa.json");
    json_t *ccg = json_pack("{s:s,s:s,s:s,s:s}", "Cookie", "c2VjcmV0", "RpcEndpoint", "ccg-1",
                            "Transport", "LRPC", "CredentialSpec", "{}");
    hcs_container_opts o = {.layer_ids = ids_base,
                            .n_layer_ids = 1,
                            .wait_to_kill_service_ms = HCS_WAIT_TO_KILL_SERVICE_MS,
                            .credential_guard = ccg};
    json_t *doc = NULL;
    wc_err err = {0};
    assert_int_equal(hcs_doc_container(spec, &o, &doc, &err), 0);
    emit("process_gmsa", "ComputeSystem", doc);
    assert_golden(doc, "process_gmsa.json");
    json_decref(doc);

    /* a type without a location changes nothing; an unknown type is refused */
    json_t *ann = json_object_get(spec, "annotations");
    json_object_del(ann, HCS_ANNOTATION_DUMP_LOCATION);
    json_t *reg = NULL;
    assert_int_equal(hcs_doc_registry_changes(spec, 0, &reg, &err), 0);
    assert_null(reg);
    json_object_set_new(ann, HCS_ANNOTATION_DUMP_LOCATION, json_string("C:\\dumps"));
    json_object_set_new(ann, HCS_ANNOTATION_DUMP_TYPE, json_string("huge"));
    assert_int_equal(hcs_doc_container(spec, &o, &doc, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, HCS_ANNOTATION_DUMP_TYPE));
    /* full is the default type */
    json_object_del(ann, HCS_ANNOTATION_DUMP_TYPE);
    assert_int_equal(hcs_doc_registry_changes(spec, 0, &reg, &err), 0);
    json_t *vals = json_object_get(reg, "AddValues");
    assert_int_equal(json_array_size(vals), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(vals, 1), "DWordValue")), 2);
    json_decref(reg);
    json_decref(ccg);
    json_decref(spec);

    /* the dump type's key is outside io.microsoft.container.*, and is passed through too */
    json_t *cri = json_pack("{s:s,s:s,s:s}", HCS_ANNOTATION_DUMP_LOCATION, "C:\\d",
                            HCS_ANNOTATION_DUMP_TYPE, "mini", "io.microsoft.wcow.other", "x");
    json_t *out = json_object();
    assert_int_equal(hcs_annotations_passthrough(cri, HCS_HANDLER_PROCESS, 0, out, &err), 2);
    json_decref(cri);
    json_decref(out);
}

/* Container Credential Guard requests (hcsshim internal/credentials/credentials.go):
 * CreateCredentialGuard sends a ModificationRequest {PropertyType ContainerCredentialGuard,
 * Settings: ContainerCredentialGuardOperationRequest {Operation AddInstance,
 * OperationDetails {Id, CredentialSpec, Transport LRPC | HvSocket when hypervisor
 * isolated}}}, queries HcsGetServiceProperties with PropertyTypes
 * [ContainerCredentialGuard] and picks the instance whose Id is the container's;
 * removeCredentialGuard sends RemoveInstance {Id}. A hosted container's instance gets its
 * HvSocket service entry in the VM (hcsoci.CreateContainer → UtilityVM.UpdateHvSocketService:
 * Update at VirtualMachine/Devices/HvSocket/HvSocketConfig/ServiceTable/<ServiceId>). */
static void credential_guard_documents(void **state)
{
    const char *cs = "{\"CmsPlugins\":[\"ActiveDirectory\"],\"DomainJoinConfig\":{"
                     "\"MachineAccountName\":\"webapp01\",\"DnsName\":\"contoso.com\"}}";
    json_t *req = NULL;
    wc_err err = {0};
    assert_int_equal(hcs_doc_ccg_add("ctr1", cs, 0, &req, &err), 0);
    emit("ccg_add_lrpc", "ModificationRequest", req);
    assert_golden(req, "ccg_add_lrpc.json");
    json_decref(req);
    assert_int_equal(hcs_doc_ccg_add("ctr1", cs, 1, &req, &err), 0);
    emit("ccg_add_hvsocket", "ModificationRequest", req);
    json_t *details = json_object_get(json_object_get(req, "Settings"), "OperationDetails");
    assert_string_equal(json_string_value(json_object_get(details, "Transport")), "HvSocket");
    json_decref(req);
    assert_int_equal(hcs_doc_ccg_add("ctr1", "", 0, &req, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);

    req = hcs_doc_ccg_remove("ctr1");
    emit("ccg_remove", "ModificationRequest", req);
    assert_golden(req, "ccg_remove.json");
    json_decref(req);
    req = hcs_doc_ccg_query();
    assert_golden(req, "ccg_query.json");
    json_decref(req);

    char *props = golden_text("ccg_properties.json");
    json_t *inst = NULL;
    assert_int_equal(hcs_ccg_instance_find(props, "ctr1", &inst, &err), 0);
    assert_string_equal(json_string_value(json_object_get(inst, "Id")), "ctr1");
    json_decref(inst);
    assert_int_equal(hcs_ccg_instance_find(props, "ctr2", &inst, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_int_equal(hcs_ccg_instance_find(props, "ctr1", &inst, &err), 0);
    assert_int_equal(hcs_ccg_instance_find("{\"Properties\":[]}", "ctr1", &req, &err), -1);
    free(props);
    assert_int_equal(hcs_doc_uvm_hvsocket_service(inst, &req, &err), 0);
    emit("ccg_hvsocket_service", "ModifySettingRequest", req);
    assert_golden(req, "ccg_hvsocket_service.json");
    json_decref(req);

    /* the state goes into a hosted document's container too */
    json_t *hosted = json_pack("{s:{s:{}}}", "HostedSystem", "Container");
    json_t *st = json_object_get(inst, "CredentialGuard");
    assert_int_equal(hcs_doc_set_credential_guard(hosted, st, &err), 0);
    assert_true(json_equal(
        json_object_get(json_object_get(json_object_get(hosted, "HostedSystem"), "Container"),
                        "ContainerCredentialGuard"),
        st));
    json_decref(hosted);
    json_decref(inst);
}

/* Utility VM limits from pod annotations: internal/oci/uvm.go SpecToUVMCreateOpts reads
 * annotations.ProcessorLimit / ProcessorWeight / StorageQoSIopsMaximum /
 * StorageQoSBandwidthMaximum / DisableCompartmentNamespace, and internal/uvm/create_wcow.go
 * prepareConfigDoc puts them at ComputeTopology.Processor {Count, Limit, Weight} and
 * StorageQoS {IopsMaximum, BandwidthMaximum} (only when either is set), and leaves out the
 * gns EnableCompartmentNamespace registry value when the pod disables it. */
static void hyperv_uvm_limits_and_qos(void **state)
{
    hcs_uvm_opts o = {.uvm_folder = "C:\\ProgramData\\wincri\\layers\\sha256-bbbb\\",
                      .scratch_vhdx = "C:\\ProgramData\\wincri\\sandboxes\\pod1\\uvm\\sandbox.vhdx",
                      .host_cpus = 16};
    json_t *ann = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", HCS_ANNOTATION_UVM_MEMORY, "4096",
                            HCS_ANNOTATION_UVM_CPUS, "4", HCS_ANNOTATION_UVM_CPU_LIMIT, "50000",
                            HCS_ANNOTATION_UVM_CPU_WEIGHT, "200", HCS_ANNOTATION_UVM_STORAGE_IOPS,
                            "1000", HCS_ANNOTATION_UVM_STORAGE_BPS, "1048576");
    wc_err err = {0};
    assert_int_equal(hcs_uvm_opts_from_annotations(ann, &o, &err), 0);
    json_t *doc = NULL;
    assert_int_equal(hcs_doc_uvm(&o, &doc, &err), 0);
    emit("hyperv_uvm_qos", "ComputeSystem", doc);
    assert_golden(doc, "hyperv_uvm_qos.json");
    json_decref(doc);

    json_object_set_new(ann, HCS_ANNOTATION_UVM_NO_COMPARTMENT_NS, json_string("true"));
    assert_int_equal(hcs_uvm_opts_from_annotations(ann, &o, &err), 0);
    assert_int_equal(hcs_doc_uvm(&o, &doc, &err), 0);
    assert_null(json_object_get(json_object_get(doc, "VirtualMachine"), "RegistryChanges"));
    json_decref(doc);

    json_object_set_new(ann, HCS_ANNOTATION_UVM_CPU_LIMIT, json_string("100001"));
    assert_int_equal(hcs_uvm_opts_from_annotations(ann, &o, &err), -1);
    assert_non_null(strstr(err.msg, HCS_ANNOTATION_UVM_CPU_LIMIT));
    json_object_set_new(ann, HCS_ANNOTATION_UVM_CPU_LIMIT, json_string("1"));
    json_object_set_new(ann, HCS_ANNOTATION_UVM_CPU_WEIGHT, json_string("10001"));
    assert_int_equal(hcs_uvm_opts_from_annotations(ann, &o, &err), -1);
    assert_non_null(strstr(err.msg, HCS_ANNOTATION_UVM_CPU_WEIGHT));
    json_decref(ann);
}

/* Emits every modify request of a plan, with its nested parts for the schema test. */
static void emit_requests(const char *prefix, const json_t *reqs)
{
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        char name[128];
        snprintf(name, sizeof name, "%s_%u", prefix, (unsigned)i);
        emit(name, "ModifySettingRequest", r);
    }
}

/* Scenario: Hyper-V pod with two containers sharing the image layers.
 * Requests per container, as hcsshim sends them:
 *  - internal/layers/layers.go MountWCOWLayers: one VSMB share per read-only layer with
 *    DefaultVSMBOptions(true) + TakeBackupPrivilege (internal/uvm/vsmb.go AddVSMB: Add to
 *    VirtualMachine/Devices/VirtualSmb/Shares, names "s1", "s2"… ref-counted by host path, so
 *    the second container adds none);
 *  - internal/uvm/scsi.go AddSCSI (addSCSIActual): the scratch sandbox.vhdx as an Attachment at
 *    VirtualMachine/Devices/Scsi/0/Attachments/<lun> (LUN 0 is the UVM's scratch) with the
 *    MappedVirtualDisk guest request {ContainerPath C:\c\<id>, Lun};
 *  - internal/uvm/combine_layers.go CombineLayersWCOW: the CombinedLayers guest request with
 *    the layers at their VSMB guest paths (GetHCSLayers), no FilterType;
 *  - internal/hcsoci/hcsdoc_wcow.go createWindowsContainerDocument, v2 Xenon branch:
 *    HostingSystemId + HostedSystem{SchemaVersion, Container{Storage.Path = the root in the
 *    UVM, Storage.Layers = VSMB paths}}.
 * Release: internal/layers/layers.go UnmountContainerLayers order (RemoveCombinedLayersWCOW,
 * RemoveSCSI with its guest request, RemoveVSMB when the last reference goes). */
static void hyperv_pod_two_containers(void **state)
{
    hcs_uvm_devices *uvm = hcs_uvm_devices_new("pod1-uvm");
    assert_non_null(uvm);
    hcs_container_opts o = {.layer_ids = ids_ab, .n_layer_ids = 2, .host_cpus = 2};
    wc_err err = {0};
    json_t *s1 = golden("spec_hyperv_c1.json"), *s2 = golden("spec_hyperv_c2.json");

    hcs_hosted_plan p1, p2;
    if (hcs_uvm_plan_container(uvm, "c1", s1, &o, &p1, &err) != 0)
        fail_msg("plan c1: %s", err.msg);
    assert_string_equal(p1.root, "C:\\c\\c1");
    assert_int_equal(p1.lun, 1);
    emit_requests("hyperv_c1_modify", p1.modify);
    emit("hyperv_c1_doc", "ComputeSystem", p1.doc);
    emit("hyperv_c1_hosted", "HostedSystem", json_object_get(p1.doc, "HostedSystem"));
    assert_golden(p1.modify, "hyperv_c1_modify.json");
    assert_golden(p1.doc, "hyperv_c1_doc.json");

    if (hcs_uvm_plan_container(uvm, "c2", s2, &o, &p2, &err) != 0)
        fail_msg("plan c2: %s", err.msg);
    assert_int_equal(p2.lun, 2);
    emit_requests("hyperv_c2_modify", p2.modify);
    emit("hyperv_c2_doc", "ComputeSystem", p2.doc);
    assert_golden(p2.modify, "hyperv_c2_modify.json");
    assert_golden(p2.doc, "hyperv_c2_doc.json");

    json_t *r1 = json_array(), *r2 = json_array();
    assert_int_equal(hcs_uvm_release_container(uvm, "c1", s1, r1, &err), 0);
    emit_requests("hyperv_release_c1", r1);
    assert_golden(r1, "hyperv_release_c1.json");
    assert_int_equal(hcs_uvm_release_container(uvm, "c2", s2, r2, &err), 0);
    emit_requests("hyperv_release_c2", r2);
    assert_golden(r2, "hyperv_release_c2.json");
    assert_int_equal(hcs_uvm_release_container(uvm, "c2", s2, r2, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);

    json_decref(r1);
    json_decref(r2);
    hcs_hosted_plan_clear(&p1);
    hcs_hosted_plan_clear(&p2);
    json_decref(s1);
    json_decref(s2);
    hcs_uvm_devices_free(uvm);
}

/* A failed plan leaves the UVM's shares and LUNs as they were. */
static void hyperv_failed_plan_rolls_back(void **state)
{
    hcs_uvm_devices *uvm = hcs_uvm_devices_new("pod2-uvm");
    hcs_container_opts o = {.layer_ids = ids_ab, .n_layer_ids = 2};
    wc_err err = {0};
    json_t *spec = golden("spec_hyperv_c1.json");
    json_t *bad = json_deep_copy(spec);
    json_object_set_new(json_object_get(bad, "windows"), "devices",
                        json_pack("[{s:s,s:s}]", "id", "x", "idType", "class"));
    hcs_hosted_plan p;
    assert_int_equal(hcs_uvm_plan_container(uvm, "c1", bad, &o, &p, &err), -1);
    assert_non_null(strstr(err.msg, "process-isolated"));
    assert_null(p.doc);
    assert_int_equal(hcs_uvm_plan_container(uvm, "c1", spec, &o, &p, &err), 0);
    assert_int_equal(p.lun, 1);
    assert_golden(p.modify, "hyperv_c1_modify.json"); /* names restart at s1 */
    hcs_hosted_plan_clear(&p);
    assert_int_equal(hcs_uvm_plan_container(uvm, "a/b", spec, &o, &p, &err), -1);
    json_decref(bad);
    json_decref(spec);
    hcs_uvm_devices_free(uvm);
}

/* Mounts in a Hyper-V container: directories over VSMB, pipes through MappedPipes.
 * hcsshim internal/hcsoci/resources_wcow.go allocateWindowsResources (VSMB per mount),
 * uvm/vsmb.go DefaultVSMBOptions(readOnly), uvm/pipes.go GetContainerPipeMapping (IPC$). */
static void hyperv_mounts(void **state)
{
    hcs_uvm_devices *uvm = hcs_uvm_devices_new("pod3-uvm");
    hcs_container_opts o = {.layer_ids = ids_ab, .n_layer_ids = 2};
    wc_err err = {0};
    json_t *spec = golden("spec_hyperv_c1.json");
    json_object_set_new(spec, "mounts",
                        json_pack("[{s:s,s:s,s:[s]},{s:s,s:s}]", "destination", "C:\\cfg", "source",
                                  "C:\\vol\\cfg", "options", "ro", "destination", "\\\\.\\pipe\\p1",
                                  "source", "\\\\.\\pipe\\p1"));
    hcs_hosted_plan p;
    assert_int_equal(hcs_uvm_plan_container(uvm, "c1", spec, &o, &p, &err), 0);
    emit_requests("hyperv_mounts_modify", p.modify);
    emit("hyperv_mounts_doc", "ComputeSystem", p.doc);
    emit("hyperv_mounts_hosted", "HostedSystem", json_object_get(p.doc, "HostedSystem"));
    json_t *c = json_object_get(json_object_get(p.doc, "HostedSystem"), "Container");
    json_t *dir = json_array_get(json_object_get(c, "MappedDirectories"), 0);
    assert_string_equal(json_string_value(json_object_get(dir, "HostPath")),
                        HCS_VSMB_GUEST_PREFIX "s3");
    assert_true(json_is_true(json_object_get(dir, "ReadOnly")));
    json_t *pipe = json_array_get(json_object_get(c, "MappedPipes"), 0);
    assert_string_equal(json_string_value(json_object_get(pipe, "HostPath")),
                        HCS_VSMB_GUEST_PREFIX "IPC$\\p1");
    assert_string_equal(json_string_value(json_object_get(pipe, "ContainerPipeName")), "p1");
    hcs_hosted_plan_clear(&p);
    json_decref(spec);
    hcs_uvm_devices_free(uvm);
}

/* The fake host of the single-file scenario: files live under ...\etc\. */
static int fake_is_file(const char *path)
{
    return strstr(path, "\\etc\\") != NULL;
}

static json_t *file_mount(const char *dst, const char *src, int ro)
{
    return json_pack("{s:s,s:s,s:[s,s]}", "destination", dst, "source", src, "options", "rbind",
                     ro ? "ro" : "rw");
}

/* Scenario: bind mounts of single files in a Hyper-V pod (kubelet's termination log, etc
 * files). hcsshim internal/uvm/vsmb.go AddVSMB: a host path that is not a directory is
 * shared as its directory (filepath.Dir) with the options of DefaultVSMBOptions(readOnly)
 * plus RestrictFileAccess and SingleFileMapping, the file's host path in AllowedFiles;
 * such shares are kept apart from directory shares (vsmbFileShares); another file of a
 * directory already shared that way is a ModifySettingRequest "Update" of the share with the
 * longer AllowedFiles list and that call's options. GetVSMBUvmPath: the guest path is the
 * share's path joined with the file name, which internal/hcsoci/hcsdoc_wcow.go puts in the
 * MappedDirectory's HostPath. RemoveVSMB: one reference per AddVSMB, the share removed when
 * the last goes (its AllowedFiles are not shortened). One deliberate difference: the same
 * file asked for again takes a reference without an Update (hcsshim would list it twice). */
static void hyperv_single_file_mounts(void **state)
{
    hcs_uvm_devices *uvm = hcs_uvm_devices_new("pod4-uvm");
    hcs_container_opts o = {.layer_ids = ids_ab, .n_layer_ids = 2, .is_file = fake_is_file};
    wc_err err = {0};
    json_t *s1 = golden("spec_hyperv_c1.json"), *s2 = golden("spec_hyperv_c2.json");
    json_object_set_new(
        s1, "mounts",
        json_pack("[o,o,o]", file_mount("C:\\etc\\hosts", "C:\\k\\pods\\u1\\etc\\hosts", 1),
                  file_mount("C:\\data", "C:\\k\\pods\\u1\\volumes\\data", 0),
                  file_mount("C:\\dev\\termination-log", "C:\\k\\pods\\u1\\etc\\termlog", 0)));
    json_object_set_new(
        s2, "mounts",
        json_pack("[o]", file_mount("C:\\etc\\hosts", "C:\\k\\pods\\u1\\etc\\hosts", 1)));
    hcs_hosted_plan p1, p2;
    if (hcs_uvm_plan_container(uvm, "c1", s1, &o, &p1, &err) != 0)
        fail_msg("plan c1: %s", err.msg);
    emit_requests("hyperv_file_c1_modify", p1.modify);
    emit("hyperv_file_c1_doc", "ComputeSystem", p1.doc);
    assert_golden(p1.modify, "hyperv_file_c1_modify.json");
    json_t *c = json_object_get(json_object_get(p1.doc, "HostedSystem"), "Container");
    assert_golden(json_object_get(c, "MappedDirectories"), "hyperv_file_c1_mapped.json");

    /* c2 maps a file already allowed: a reference, no request for the share */
    if (hcs_uvm_plan_container(uvm, "c2", s2, &o, &p2, &err) != 0)
        fail_msg("plan c2: %s", err.msg);
    assert_int_equal(json_array_size(p2.modify), 2); /* its scratch and its combined layers */
    c = json_object_get(json_object_get(p2.doc, "HostedSystem"), "Container");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(c, "MappedDirectories"), 0), "HostPath")),
        HCS_VSMB_GUEST_PREFIX "s3\\hosts");

    json_t *r1 = json_array(), *r2 = json_array();
    assert_int_equal(hcs_uvm_release_container(uvm, "c1", s1, r1, &err), 0);
    assert_golden(r1, "hyperv_file_release_c1.json");
    assert_int_equal(hcs_uvm_release_container(uvm, "c2", s2, r2, &err), 0);
    json_t *last = json_array_get(r2, json_array_size(r2) - 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(last, "Settings"), "Name")), "s3");
    assert_string_equal(json_string_value(json_object_get(last, "RequestType")), "Remove");

    hcs_hosted_plan_clear(&p2);
    /* a file source with no directory part cannot be shared */
    json_object_set_new(s2, "mounts", json_pack("[o]", file_mount("C:\\x", "\\etc\\", 0)));
    assert_int_equal(hcs_uvm_plan_container(uvm, "c3", s2, &o, &p2, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_null(p2.doc);
    json_decref(r1);
    json_decref(r2);
    hcs_hosted_plan_clear(&p1);
    hcs_hosted_plan_clear(&p2);
    json_decref(s1);
    json_decref(s2);
    hcs_uvm_devices_free(uvm);
}

/* A restarted wincrid reopens a pod's VM and loads its bookkeeping from its record: what
 * it then plans and releases is what the wincrid that made the VM would have (hcsshim keeps
 * this state in the UtilityVM object; a shim that restarts loses it, wincri records it). */
static void hyperv_devices_survive_a_restart(void **state)
{
    hcs_uvm_devices *a = hcs_uvm_devices_new("pod5-uvm"), *b = NULL;
    hcs_container_opts o = {.layer_ids = ids_ab, .n_layer_ids = 2, .is_file = fake_is_file};
    wc_err err = {0};
    json_t *s1 = golden("spec_hyperv_c1.json"), *s2 = golden("spec_hyperv_c2.json");
    json_object_set_new(s1, "mounts",
                        json_pack("[o,o]", file_mount("C:\\h", "C:\\k\\etc\\hosts", 1),
                                  file_mount("C:\\d", "C:\\k\\data", 0)));
    json_object_set_new(s2, "mounts",
                        json_pack("[o]", file_mount("C:\\t", "C:\\k\\etc\\termlog", 0)));
    hcs_hosted_plan p1, pa, pb;
    assert_int_equal(hcs_uvm_plan_container(a, "c1", s1, &o, &p1, &err), 0);
    json_t *saved = hcs_uvm_devices_save(a);
    assert_non_null(saved);
    /* through text, as the record is written and read */
    char *text = json_dumps(saved, JSON_COMPACT);
    json_t *back = json_loads(text, 0, NULL);
    assert_int_equal(hcs_uvm_devices_load(back, &b, &err), 0);
    assert_string_equal(hcs_uvm_devices_id(b), "pod5-uvm");
    assert_int_equal(hcs_uvm_plan_container(a, "c2", s2, &o, &pa, &err), 0);
    assert_int_equal(hcs_uvm_plan_container(b, "c2", s2, &o, &pb, &err), 0);
    assert_true(json_equal(pa.modify, pb.modify)); /* an Update of s3, LUN 2 */
    assert_true(json_equal(pa.doc, pb.doc));
    assert_int_equal(pb.lun, 2);
    json_t *ra = json_array(), *rb = json_array();
    assert_int_equal(hcs_uvm_release_container(a, "c1", s1, ra, &err), 0);
    assert_int_equal(hcs_uvm_release_container(b, "c1", s1, rb, &err), 0);
    assert_true(json_equal(ra, rb));
    assert_int_equal(json_array_size(rb), 3); /* filter, LUN 1, the data share; s3 stays */
    /* not a record */
    hcs_uvm_devices *bad = NULL;
    json_object_set_new(back, "luns", json_pack("{s:s}", "0", "x"));
    assert_int_equal(hcs_uvm_devices_load(back, &bad, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_null(bad);
    assert_int_equal(hcs_uvm_devices_load(json_object_get(back, "id"), &bad, &err), -1);
    free(text);
    json_decref(saved);
    json_decref(back);
    json_decref(ra);
    json_decref(rb);
    hcs_hosted_plan_clear(&p1);
    hcs_hosted_plan_clear(&pa);
    hcs_hosted_plan_clear(&pb);
    json_decref(s1);
    json_decref(s2);
    hcs_uvm_devices_free(a);
    hcs_uvm_devices_free(b);
}

/* Scenario (part of the Hyper-V pod): the pod's network adapter into the UVM.
 * hcsshim internal/uvm/network.go addNIC: a guest-only PreAdd carrying the HNS endpoint
 * (getNetworkModifyRequest, RS5+ form {AdapterId, RequestType, Settings}), then the Add to
 * VirtualMachine/Devices/NetworkAdapters/<id> with NetworkAdapter{EndpointId, MacAddress} and
 * the guest Add. */
static void hyperv_network_adapter(void **state)
{
    json_t *want_ep = golden("hyperv_nic_endpoint.json");
    json_t *pre = NULL, *add = NULL, *ep = NULL;
    wc_err err = {0};
    /* the endpoint as HCN v2 reports it (ID, Name, MacAddress, IpConfigurations[0]) */
    assert_int_equal(hcs_doc_uvm_nic_endpoint("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "pod1-eth0",
                                              "00-15-5D-52-C0-01", "10.244.1.5", 24, &ep, &err),
                     0);
    assert_golden(ep, "hyperv_nic_endpoint.json");
    json_decref(want_ep);
    const char *nic = "6f7e8d9c-0b1a-4c2d-9e3f-4a5b6c7d8e9f";
    assert_int_equal(hcs_doc_uvm_nic_preadd(nic, ep, &pre, &err), 0);
    assert_int_equal(hcs_doc_uvm_nic_add(nic, "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
                                         "00-15-5D-52-C0-01", &add, &err),
                     0);
    emit("hyperv_nic_preadd", "ModifySettingRequest", pre);
    emit("hyperv_nic_add", "ModifySettingRequest", add);
    assert_golden(pre, "hyperv_nic_preadd.json");
    assert_golden(add, "hyperv_nic_add.json");
    json_decref(pre);
    json_decref(add);
    assert_int_equal(hcs_doc_uvm_nic_add("", "x", NULL, &add, &err), -1);
    json_decref(ep);
}

/* ---- runtime handlers --------------------------------------------------------------------- */

static void handlers_and_annotations(void **state)
{
    hcs_isolation iso;
    wc_err err = {0};
    assert_int_equal(hcs_handler_isolation("runhcs-wcow-process", &iso, &err), 0);
    assert_int_equal(iso, HCS_ISOLATION_PROCESS);
    assert_int_equal(hcs_handler_isolation("runhcs-wcow-hypervisor", &iso, &err), 0);
    assert_int_equal(iso, HCS_ISOLATION_HYPERV);
    assert_int_equal(hcs_handler_isolation("runc", &iso, &err), -1);
    assert_non_null(strstr(err.msg, "runc"));

    json_t *cri = json_pack("{s:s,s:s,s:s}", HCS_ANNOTATION_UVM_MEMORY, "2048",
                            HCS_ANNOTATION_CPU_COUNT, "1", "io.kubernetes.pod.name", "p");
    json_t *spec = json_object();
    /* process isolation: only container annotations */
    assert_int_equal(hcs_annotations_passthrough(cri, HCS_HANDLER_PROCESS, 1, spec, &err), 1);
    assert_null(json_object_get(json_object_get(spec, "annotations"), HCS_ANNOTATION_UVM_MEMORY));
    /* Hyper-V pod: both */
    assert_int_equal(hcs_annotations_passthrough(cri, HCS_HANDLER_HYPERV, 1, spec, &err), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "annotations"),
                                                          HCS_ANNOTATION_UVM_MEMORY)),
                        "2048");
    /* Hyper-V container: VM annotations do not belong on a container */
    json_t *cspec = json_object();
    assert_int_equal(hcs_annotations_passthrough(cri, HCS_HANDLER_HYPERV, 0, cspec, &err), 1);
    hcs_uvm_opts o = {0};
    assert_int_equal(hcs_uvm_opts_from_annotations(spec, &o, &err), 0);
    assert_int_equal(o.memory_mb, 2048);
    json_decref(cri);
    json_decref(spec);
    json_decref(cspec);
}

/* ---- processes ---------------------------------------------------------------------------- */

/* Scenario: TTY exec.
 * hcsshim internal/cmd/cmd.go Cmd.Start: ProcessParameters{CommandLine = escapeArgs(args) (Go's
 * windows.EscapeArg per argument), User = user.username, WorkingDirectory = cwd,
 * EmulateConsole = terminal, CreateStd*Pipe, Environment without empty values,
 * ConsoleSize [height, width]}. */
static void exec_tty(void **state)
{
    json_t *proc = golden("spec_exec_tty.json");
    hcs_process_io io = {.stdin_pipe = 1, .stdout_pipe = 1, .stderr_pipe = 0};
    json_t *doc = NULL;
    wc_err err = {0};
    assert_int_equal(hcs_doc_process(proc, &io, &doc, &err), 0);
    emit("exec_tty", "ProcessParameters", doc);
    assert_golden(doc, "exec_tty.json");
    json_decref(doc);
    json_decref(proc);
}

/* Modify-process and signal documents.
 * hcsshim internal/hcs/process.go ResizeConsole (ProcessModifyRequest{Operation ConsoleSize,
 * ConsoleSize{Height, Width}}) and CloseStdin (Operation CloseHandle, Handle StdIn);
 * guestresource.SignalProcessOptionsWCOW{Signal CtrlShutdown}. */
static void process_modify_and_signal(void **state)
{
    json_t *r = hcs_doc_process_resize(200, 50);
    json_t *c = hcs_doc_process_close_stdin();
    json_t *s = hcs_doc_signal(HCS_SIGNAL_CTRL_SHUTDOWN);
    emit("process_resize", "ProcessModifyRequest", r);
    emit("process_close_stdin", "ProcessModifyRequest", c);
    emit("process_signal_shutdown", "SignalProcessOptions", s);
    assert_golden(r, "process_resize.json");
    assert_golden(c, "process_close_stdin.json");
    assert_golden(s, "process_signal_shutdown.json");
    json_decref(r);
    json_decref(c);
    json_decref(s);
    for (int k = HCS_SIGNAL_CTRL_C; k <= HCS_SIGNAL_CTRL_SHUTDOWN; k++) {
        json_t *d = hcs_doc_signal((hcs_signal)k);
        char name[32];
        snprintf(name, sizeof name, "signal_%d", k);
        emit(name, "SignalProcessOptions", d);
        json_decref(d);
    }
    hcs_signal sig;
    wc_err err = {0};
    assert_int_equal(hcs_signal_from_posix(15, &sig, &err), 0);
    assert_int_equal(sig, HCS_SIGNAL_CTRL_SHUTDOWN);
    assert_int_equal(hcs_signal_from_posix(2, &sig, &err), 0);
    assert_int_equal(sig, HCS_SIGNAL_CTRL_C);
    assert_int_equal(hcs_signal_from_posix(9, &sig, &err), 1);
    assert_int_equal(hcs_signal_from_posix(10, &sig, &err), -1);
}

static void process_errors(void **state)
{
    wc_err err = {0};
    json_t *doc = NULL;
    json_t *p = json_pack("{s:[]}", "args");
    assert_int_equal(hcs_doc_process(p, NULL, &doc, &err), -1);
    json_decref(p);
    p = json_pack("{s:[s],s:[s]}", "args", "a.exe", "env", "NOEQUALS");
    assert_int_equal(hcs_doc_process(p, NULL, &doc, &err), -1);
    assert_non_null(strstr(err.msg, "process.env[0]"));
    json_decref(p);
    /* commandLine wins over args, passed through untouched */
    p = json_pack("{s:s,s:[s]}", "commandLine", "cmd /c \"x y\"", "args", "ignored");
    assert_int_equal(hcs_doc_process(p, NULL, &doc, &err), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "CommandLine")), "cmd /c \"x y\"");
    assert_null(json_object_get(doc, "ConsoleSize"));
    emit("process_commandline", "ProcessParameters", doc);
    json_decref(doc);
    json_decref(p);
}

/* Argv quoting: expectations worked out by hand from Go's syscall.EscapeArg rules. */
static void argv_quoting(void **state)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"", "\"\""},
        {"two words", "\"two words\""},
        {"C:\\dir\\file", "C:\\dir\\file"},
        {"a\"b", "a\\\"b"},
        {"C:\\Program Files\\", "\"C:\\Program Files\\\\\""},
        {"x\\\"y", "x\\\\\\\"y"},
        {"tab\there", "\"tab\there\""},
        {"end\\\\", "end\\\\"},
        {"q \\\\\"", "\"q \\\\\\\\\\\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = hcs_argv_quote(cases[i].in);
        assert_string_equal(q, cases[i].out);
        free(q);
    }
    const char *argv[] = {"a b", "c", ""};
    char *line = hcs_argv_join(argv, 3);
    assert_string_equal(line, "\"a b\" c \"\"");
    free(line);
}

/* ---- queries and results ------------------------------------------------------------------ */

/* hcsshim internal/hcs/system.go Properties/PropertiesV2 (PropertyQuery{PropertyTypes}) and
 * the HcsEnumerateComputeSystems SystemQuery{Owners} used for recovery. */
static void queries(void **state)
{
    json_t *a = hcs_doc_query_statistics(), *b = hcs_doc_query_process_list(),
           *c = hcs_doc_query_owned(NULL);
    emit("query_statistics", "System_PropertyQuery", a);
    emit("query_process_list", "System_PropertyQuery", b);
    emit("query_owned", "SystemQuery", c);
    assert_golden(a, "query_statistics.json");
    assert_golden(b, "query_process_list.json");
    assert_golden(c, "query_owned.json");
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* Scenario: stats parsing.
 * hcsshim cmd/containerd-shim-runhcs-v1/task_hcs.go hcsPropertiesToWindowsStats: each *100ns
 * value × 100 → ns; memory bytes copied (private working set → CRI working_set_bytes,
 * commit bytes → CRI commit). The input is a Properties document shaped like schema2's. */
static void stats_parse(void **state)
{
    char *text = golden_text("stats_properties.json");
    hcs_doc_stats st;
    wc_err err = {0};
    assert_int_equal(hcs_stats_parse(text, &st, &err), 0);
    assert_true(st.has_cpu && st.has_memory);
    assert_int_equal(st.cpu_total_ns, 123456700ULL);
    assert_int_equal(st.cpu_user_ns, 100000000ULL);
    assert_int_equal(st.cpu_kernel_ns, 23456700ULL);
    assert_int_equal(st.uptime_ns, 1200000000000ULL);
    assert_int_equal(st.mem_private_working_set_bytes, 52428800ULL);
    assert_int_equal(st.mem_commit_bytes, 104857600ULL);
    assert_int_equal(st.mem_commit_peak_bytes, 209715200ULL);
    assert_true(st.timestamp_ns == 1714558830123456700LL);
    free(text);

    text = golden_text("process_list_properties.json");
    hcs_proc_info *procs;
    size_t n;
    assert_int_equal(hcs_process_list_parse(text, &procs, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(procs[0].pid, 1234);
    assert_string_equal(procs[0].image, "cmd.exe");
    assert_int_equal(procs[0].user_ns, 50000);
    assert_int_equal(procs[0].kernel_ns, 25000);
    assert_int_equal(procs[0].ws_private_bytes, 1048576);
    assert_int_equal(procs[1].ws_shared_bytes, 3);
    free(procs);
    free(text);

    assert_int_equal(hcs_stats_parse("{\"Id\":\"x\"}", &st, &err), -1);
    assert_int_equal(hcs_stats_parse("not json", &st, &err), -1);
    assert_int_equal(hcs_stats_parse("{\"Statistics\":{\"Timestamp\":\"yesterday\"}}", &st, &err),
                     -1);
}

static void exit_documents(void **state)
{
    hcs_system_exit se;
    hcs_process_status ps;
    wc_err err = {0};
    assert_int_equal(hcs_system_exit_parse(
                         "{\"Status\":-2143878906,\"ExitType\":\"UnexpectedExit\"}", &se, &err),
                     0);
    assert_int_equal(se.status, (int32_t)0x80370106u);
    assert_string_equal(se.exit_type, "UnexpectedExit");
    assert_int_equal(hcs_system_exit_parse(NULL, &se, &err), 0);
    assert_int_equal(se.status, 0);
    assert_int_equal(hcs_process_status_parse("{\"ProcessId\":42,\"Exited\":true,\"ExitCode\":3,"
                                              "\"LastWaitResult\":0}",
                                              &ps, &err),
                     0);
    assert_int_equal(ps.pid, 42);
    assert_true(ps.exited);
    assert_int_equal(ps.exit_code, 3);
    assert_int_equal(hcs_process_status_parse("[]", &ps, &err), -1);
}

static void rfc3339(void **state)
{
    int64_t ns;
    assert_int_equal(hcs_parse_rfc3339("1970-01-01T00:00:00Z", &ns), 0);
    assert_true(ns == 0);
    assert_int_equal(hcs_parse_rfc3339("2024-05-01T12:20:30.5+02:00", &ns), 0);
    assert_true(ns == 1714558830500000000LL);
    assert_int_equal(hcs_parse_rfc3339("2000-02-29T00:00:00Z", &ns), 0);
    assert_true(ns == 951782400LL * 1000000000LL);
    assert_int_equal(hcs_parse_rfc3339("2024-13-01T00:00:00Z", &ns), -1);
    assert_int_equal(hcs_parse_rfc3339("2024-01-01 00:00:00Z", &ns), -1);
    assert_int_equal(hcs_parse_rfc3339("2024-01-01T00:00:00", &ns), -1);
}

/* UpdateContainerResources (hcsshim task_hcs.go updateWCOWResources): memory in MB aligned
 * up to even, then the one CPU setting, each an Update request on the container. */
static void container_update(void **state)
{
    (void)state;
    json_t *res = json_pack("{s:{s:I},s:{s:i}}", "memory", "limit", (json_int_t)301 * 1048576,
                            "cpu", "count", 64);
    json_t *reqs = NULL;
    wc_err err = {0};
    assert_int_equal(hcs_doc_container_update(res, 8, &reqs, &err), 0);
    assert_golden(reqs, "update_memory_cpu_count.json");
    json_decref(reqs);
    json_decref(res);
    res = json_pack("{s:{s:i,s:i}}", "cpu", "shares", 100, "maximum", 5000);
    assert_int_equal(hcs_doc_container_update(res, 8, &reqs, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "mutually exclusive"));
    json_decref(res);
    res = json_object();
    wc_err_clear(&err);
    assert_int_equal(hcs_doc_container_update(res, 8, &reqs, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    json_decref(res);
}

/* The HCS inputs are checked against the schema too (they are what HCS sends). */
static void inputs_for_schema(void **state)
{
    const char *files[][2] = {{"stats_properties.json", "Properties"},
                              {"process_list_properties.json", "Properties"},
                              {"result_error_not_found.json", "ResultError"},
                              {"result_error_invalid_json.json", "ResultError"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        json_t *j = golden(files[i][0]);
        char name[64];
        snprintf(name, sizeof name, "input_%u", (unsigned)i);
        emit(name, files[i][1], j);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(process_single),
        cmocka_unit_test(process_shared_namespace),
        cmocka_unit_test(process_mounts),
        cmocka_unit_test(process_named_pipe),
        cmocka_unit_test(process_cpu_count),
        cmocka_unit_test(process_cpu_maximum),
        cmocka_unit_test(process_cpu_shares),
        cmocka_unit_test(process_memory),
        cmocka_unit_test(process_device),
        cmocka_unit_test(cpu_kinds_are_exclusive),
        cmocka_unit_test(cpu_count_clamped_and_annotation_wins),
        cmocka_unit_test(wait_to_kill_registry_change),
        cmocka_unit_test(invalid_specs_are_rejected),
        cmocka_unit_test(hyperv_uvm_default),
        cmocka_unit_test(hyperv_uvm_custom_size),
        cmocka_unit_test(hyperv_uvm_limits_and_qos),
        cmocka_unit_test(gmsa_and_process_dump),
        cmocka_unit_test(credential_guard_documents),
        cmocka_unit_test(hyperv_pod_two_containers),
        cmocka_unit_test(hyperv_failed_plan_rolls_back),
        cmocka_unit_test(hyperv_mounts),
        cmocka_unit_test(hyperv_single_file_mounts),
        cmocka_unit_test(hyperv_devices_survive_a_restart),
        cmocka_unit_test(hyperv_network_adapter),
        cmocka_unit_test(handlers_and_annotations),
        cmocka_unit_test(exec_tty),
        cmocka_unit_test(container_update),
        cmocka_unit_test(process_modify_and_signal),
        cmocka_unit_test(process_errors),
        cmocka_unit_test(argv_quoting),
        cmocka_unit_test(queries),
        cmocka_unit_test(stats_parse),
        cmocka_unit_test(exit_documents),
        cmocka_unit_test(rfc3339),
        cmocka_unit_test(inputs_for_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
