/* HostProcess containers' pure parts (hcs/hcsjob.h). Every expectation is derived from
 * hcsshim and cited next to the case:
 *   internal/jobcontainers/oci.go        specToLimits, calculateJobCPURate, calculateJobCPUWeight
 *   internal/jobobject/limits.go         SetResourceLimits (rate wins over weight), cpu bounds
 *   internal/hcsoci (ConvertCPULimits)   count/maximum/shares mutually exclusive, count clamped
 *   internal/oci ParseAnnotationsMemory  the annotation in MiB, else the spec's bytes / MiB
 *   internal/jobcontainers/logon.go      processToken: NT AUTHORITY → service logon, else a
 *                                        group (a user made in it) or a user; empty refused
 *   internal/jobcontainers/oci.go        inheritUserTokenIsSet (the inherit-user annotation)
 *   internal/jobcontainers/storage.go    fallbackRootfsFormat C:\hpc\<id>\
 *   internal/jobcontainers/jobcontainer.go  fallbackSetup (custom location joined with the id),
 *                                        replaceWithMountPoint (%VAR% and $env:VAR, without the
 *                                        trailing backslash), CreateProcess's working directory
 *                                        (relative to the mount point, drive letter removed)
 *   internal/jobcontainers/mounts.go     fallbackMountSetup, stripDriveLetter, named pipes refused
 */
#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hcs/hcsdoc.h"
#include "hcs/hcsjob.h"

static json_t *spec_of(const char *text)
{
    json_error_t jerr;
    json_t *s = json_loads(text, 0, &jerr);
    if (!s)
        fail_msg("bad test JSON: %s", jerr.text);
    return s;
}

static hcs_job_limits limits_ok(const char *text, unsigned host_cpus)
{
    json_t *s = spec_of(text);
    hcs_job_limits l;
    wc_err err = {0};
    if (hcs_job_limits_of(s, host_cpus, &l, &err) < 0)
        fail_msg("%s: %s", text, err.msg);
    json_decref(s);
    return l;
}

static void limits_bad(const char *text, const char *needle)
{
    json_t *s = spec_of(text);
    hcs_job_limits l;
    wc_err err = {0};
    assert_int_equal(hcs_job_limits_of(s, 8, &l, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
    json_decref(s);
}

static void cpu_limits(void **state)
{
    (void)state;
    /* calculateJobCPURate: count*10000/hostProcs */
    hcs_job_limits l = limits_ok("{\"windows\":{\"resources\":{\"cpu\":{\"count\":2}}}}", 8);
    assert_int_equal(l.cpu_rate, 2500);
    assert_int_equal(l.cpu_weight, 0);
    /* ... never 0: "if rate == 0 { return 1 }" */
    l = limits_ok("{\"windows\":{\"resources\":{\"cpu\":{\"count\":1}}}}", 20000);
    assert_int_equal(l.cpu_rate, 1);
    /* ConvertCPULimits lowers a count above the host's to the host's: the whole host */
    l = limits_ok("{\"windows\":{\"resources\":{\"cpu\":{\"count\":64}}}}", 4);
    assert_int_equal(l.cpu_rate, 10000);
    /* cpu.maximum is already a rate in 1/100 % */
    l = limits_ok("{\"windows\":{\"resources\":{\"cpu\":{\"maximum\":1500}}}}", 8);
    assert_int_equal(l.cpu_rate, 1500);
    /* calculateJobCPUWeight: 1 + 8*weight/10000 */
    l = limits_ok("{\"windows\":{\"resources\":{\"cpu\":{\"shares\":5000}}}}", 8);
    assert_int_equal(l.cpu_weight, 5);
    assert_int_equal(l.cpu_rate, 0);
    l = limits_ok("{\"windows\":{\"resources\":{\"cpu\":{\"shares\":10000}}}}", 8);
    assert_int_equal(l.cpu_weight, HCS_JOB_CPU_WEIGHT_MAX);
    l = limits_ok("{\"windows\":{\"resources\":{\"cpu\":{\"shares\":1}}}}", 8);
    assert_int_equal(l.cpu_weight, 1);
    /* the annotations win over the spec (ParseAnnotations*) */
    l = limits_ok("{\"annotations\":{\"io.microsoft.container.processor.count\":\"4\"},"
                  "\"windows\":{\"resources\":{\"cpu\":{\"count\":1}}}}",
                  8);
    assert_int_equal(l.cpu_rate, 5000);
    /* nothing asked: no CPU control */
    l = limits_ok("{}", 8);
    assert_int_equal(l.cpu_rate + l.cpu_weight, 0);
    assert_int_equal(l.memory_bytes, 0);

    limits_bad("{\"windows\":{\"resources\":{\"cpu\":{\"count\":1,\"shares\":2}}}}",
               "mutually exclusive");
    limits_bad("{\"windows\":{\"resources\":{\"cpu\":{\"maximum\":10001}}}}", "1..10000");
    limits_bad("{\"annotations\":{\"io.microsoft.container.processor.limit\":\"lots\"}}",
               "io.microsoft.container.processor.limit");
}

static void memory_and_io_limits(void **state)
{
    (void)state;
    /* ParseAnnotationsMemory: the spec's bytes in whole MiB; the job gets MiB * 1 MiB */
    hcs_job_limits l = limits_ok("{\"windows\":{\"resources\":{\"memory\":{\"limit\":209715300}}}}",
                                 8); /* 200 MiB + 100 */
    assert_int_equal(l.memory_bytes, 200ULL * 1024 * 1024);
    /* below a MiB rounds to no limit, as hcsshim's MiB arithmetic does */
    l = limits_ok("{\"windows\":{\"resources\":{\"memory\":{\"limit\":1000}}}}", 8);
    assert_int_equal(l.memory_bytes, 0);
    /* the annotation is in MiB and wins */
    l = limits_ok("{\"annotations\":{\"io.microsoft.container.memory.sizeinmb\":\"64\"},"
                  "\"windows\":{\"resources\":{\"memory\":{\"limit\":209715200}}}}",
                  8);
    assert_int_equal(l.memory_bytes, 64ULL * 1024 * 1024);
    l = limits_ok("{\"annotations\":{\"io.microsoft.container.storage.qos.iopsmaximum\":\"300\"},"
                  "\"windows\":{\"resources\":{\"storage\":{\"bps\":1000000}}}}",
                  8);
    assert_int_equal(l.max_iops, 300);
    assert_int_equal(l.max_bandwidth, 1000000);
}

static hcs_job_user user_ok(const char *text)
{
    json_t *s = spec_of(text);
    hcs_job_user u;
    wc_err err = {0};
    if (hcs_job_user_of(s, &u, &err) < 0)
        fail_msg("%s: %s", text, err.msg);
    json_decref(s);
    return u;
}

static void user_bad(const char *text, const char *needle)
{
    json_t *s = spec_of(text);
    hcs_job_user u;
    wc_err err = {0};
    assert_int_equal(hcs_job_user_of(s, &u, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
    json_decref(s);
}

#define USER(u) "{\"process\":{\"user\":{\"username\":\"" u "\"}}}"

static void users(void **state)
{
    (void)state;
    hcs_job_user u = user_ok(USER("NT AUTHORITY\\\\SYSTEM"));
    assert_int_equal(u.kind, HCS_JOB_USER_SYSTEM);
    assert_string_equal(u.domain, "NT AUTHORITY");
    /* processToken: domain "NT AUTHORITY" → LOGON32_LOGON_SERVICE with the account's name */
    u = user_ok(USER("NT AUTHORITY\\\\Local Service"));
    assert_int_equal(u.kind, HCS_JOB_USER_SERVICE);
    assert_string_equal(u.name, "LocalService");
    assert_string_equal(u.logon, "Local Service"); /* LogonUser gets the name as written */
    u = user_ok(USER("nt authority\\\\networkservice"));
    assert_int_equal(u.kind, HCS_JOB_USER_SERVICE);
    assert_string_equal(u.domain, "NT AUTHORITY");
    assert_string_equal(u.name, "NetworkService");
    assert_string_equal(u.logon, "networkservice");
    /* anything else: a local group (a user is made in it) or an account */
    u = user_ok(USER("Administrators"));
    assert_int_equal(u.kind, HCS_JOB_USER_ACCOUNT);
    assert_string_equal(u.domain, "");
    assert_string_equal(u.name, "Administrators");
    u = user_ok(USER("CONTOSO\\\\svc-cni"));
    assert_int_equal(u.kind, HCS_JOB_USER_ACCOUNT);
    assert_string_equal(u.domain, "CONTOSO");
    assert_string_equal(u.name, "svc-cni");
    /* inheritUserTokenIsSet: the annotation wins over any user */
    u = user_ok("{\"annotations\":{\"microsoft.com/hostprocess-inherit-user\":\"true\"},"
                "\"process\":{\"user\":{\"username\":\"Administrators\"}}}");
    assert_int_equal(u.kind, HCS_JOB_USER_INHERIT);

    user_bad("{\"process\":{}}", "no user to run as");
    user_bad(USER(""), "no user to run as");
    user_bad(USER("a\\\\b\\\\c"), "is not [DOMAIN\\]name");
    user_bad(USER("NT AUTHORITY\\\\Guest"), "is not an NT AUTHORITY account");

    char acct[64];
    hcs_job_local_account("0123456789abcdef0123456789abcdef", acct, sizeof acct);
    assert_string_equal(acct, "0123456789abcdef0123"); /* winapi.UserNameCharLimit 20 */
}

static void mount_points(void **state)
{
    (void)state;
    wc_err err = {0};
    json_t *s = spec_of("{}");
    char *mp = hcs_job_mount_point(s, "abc", &err);
    assert_string_equal(mp, "C:\\hpc\\abc\\"); /* fallbackRootfsFormat */
    json_decref(s);

    char *x = hcs_job_expand("%CONTAINER_SANDBOX_MOUNT_POINT%\\bin\\cni.exe", mp, NULL);
    assert_string_equal(x, "C:\\hpc\\abc\\bin\\cni.exe");
    free(x);
    int changed = 0;
    x = hcs_job_expand("& $env:CONTAINER_SANDBOX_MOUNT_POINT/x.ps1", mp, &changed);
    assert_string_equal(x, "& C:\\hpc\\abc/x.ps1");
    assert_true(changed);
    free(x);
    x = hcs_job_expand("C:\\Windows", mp, &changed);
    assert_string_equal(x, "C:\\Windows");
    assert_false(changed);
    free(x);

    x = hcs_job_working_dir("", mp);
    assert_string_equal(x, "C:\\hpc\\abc\\");
    free(x);
    x = hcs_job_working_dir("C:\\work\\dir", mp);
    assert_string_equal(x, "C:\\hpc\\abc\\work\\dir");
    free(x);
    x = hcs_job_working_dir("%CONTAINER_SANDBOX_MOUNT_POINT%\\etc", mp);
    assert_string_equal(x, "C:\\hpc\\abc\\etc");
    free(x);
    free(mp);

    /* HostProcessRootfsLocation: joined with the id */
    s = spec_of(
        "{\"annotations\":{\"microsoft.com/hostprocess-rootfs-location\":\"D:\\\\ctrs\\\\\"}}");
    mp = hcs_job_mount_point(s, "abc", &err);
    assert_string_equal(mp, "D:\\ctrs\\abc\\");
    free(mp);
    json_decref(s);
    s = spec_of("{\"annotations\":{\"microsoft.com/hostprocess-rootfs-location\":\"ctrs\"}}");
    assert_null(hcs_job_mount_point(s, "abc", &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    json_decref(s);

    s = spec_of("{\"annotations\":{\"microsoft.com/hostprocess-container\":\"true\"}}");
    assert_true(hcs_spec_is_hostprocess(s));
    json_decref(s);
    s = spec_of("{\"annotations\":{\"microsoft.com/hostprocess-container\":\"false\"}}");
    assert_false(hcs_spec_is_hostprocess(s));
    json_decref(s);
}

/* mounts.go fallbackMountSetup: a link at <mount point>\<destination without drive letter>;
 * stripDriveLetter("C:") is the mount point itself; named pipe sources are refused. */
static void mount_links(void **state)
{
    (void)state;
    wc_err err = {0};
    char *l = hcs_job_mount_link("C:\\hpc\\abc\\", "C:\\var\\lib\\cni", "C:\\etc\\cni", &err);
    assert_string_equal(l, "C:\\hpc\\abc\\etc\\cni");
    free(l);
    l = hcs_job_mount_link("C:\\hpc\\abc\\", "D:\\data", "/data/x", &err);
    assert_string_equal(l, "C:\\hpc\\abc\\data\\x");
    free(l);
    l = hcs_job_mount_link("C:\\hpc\\abc\\", "D:\\data", "C:", &err);
    assert_string_equal(l, "C:\\hpc\\abc");
    free(l);
    assert_null(hcs_job_mount_link("C:\\hpc\\abc\\", "\\\\.\\pipe\\docker_engine",
                                   "\\\\.\\pipe\\docker_engine", &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "named pipe"));
    assert_null(hcs_job_mount_link("C:\\hpc\\abc\\", "", "C:\\x", &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_limits),  cmocka_unit_test(memory_and_io_limits),
        cmocka_unit_test(users),       cmocka_unit_test(mount_points),
        cmocka_unit_test(mount_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
