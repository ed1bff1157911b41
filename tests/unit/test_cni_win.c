/* CNI on Windows: the invocation built by hns/cni_win_args.c is run for real (fork/exec)
 * against tests/fixtures/fake-cni.sh installed as "<type>.exe", which records its
 * environment and stdin and answers a canned CNI 1.0 result. The recorded bytes are what
 * a Windows plugin (sdnbridge, win-bridge, win-overlay, nat) would have received. */
#include "tests/unit/testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hns/cni_win.h"

static char bindir[256];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

static void write_file(const char *path, const char *text, int mode)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

static void install_plugin(const char *exe_name, const char *result)
{
    const char *src = getenv("WINCRI_SRC");
    char from[512], to[512], res[512];
    snprintf(from, sizeof from, "%s%stests/fixtures/fake-cni.sh", src ? src : "", src ? "/" : "");
    char *script = slurp(from);
    if (!script)
        fail_msg("cannot read %s (run from the repository root or set WINCRI_SRC)", from);
    snprintf(to, sizeof to, "%s/%s", bindir, exe_name);
    write_file(to, script, 0755);
    free(script);
    snprintf(res, sizeof res, "%s/%s.result", bindir, exe_name);
    write_file(res, result, 0644);
}

static int setup(void **state)
{
    snprintf(bindir, sizeof bindir, "/tmp/wincri-cni-win-XXXXXX");
    if (!mkdtemp(bindir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", bindir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs the invocation: env = its CNI_* list + PATH (the runner adds the host's
 * environment), stdin = its config; returns stdout and the exit status. */
static char *run(const hns_cni_win_invocation *inv, int *status)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    size_t n = 0;
    while (inv->env[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    memcpy(envp, inv->env, n * sizeof *envp);
    envp[n] = "PATH=/usr/bin:/bin";
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        char *argv[] = {inv->exe, NULL};
        execve(inv->exe, argv, envp);
        _exit(127);
    }
    free(envp);
    close(in[0]);
    close(out[1]);
    size_t len = strlen(inv->stdin_json);
    assert_int_equal(write(in[1], inv->stdin_json, len), (ssize_t)len);
    close(in[1]);
    char *buf = NULL;
    size_t blen = 0;
    char chunk[4096];
    ssize_t r;
    while ((r = read(out[0], chunk, sizeof chunk)) > 0) {
        buf = realloc(buf, blen + (size_t)r + 1);
        memcpy(buf + blen, chunk, (size_t)r);
        blen += (size_t)r;
        buf[blen] = '\0';
    }
    close(out[0]);
    assert_int_equal(waitpid(pid, status, 0), pid);
    return buf;
}

static int exists(const char *path, void *ctx)
{
    return access(path, X_OK) == 0;
}

static const char *const NS = "5F0B1190-63BE-4E0C-B974-BD0F55675A42";

static const char *conflist =
    "{\"cniVersion\":\"1.0.0\",\"name\":\"cbr0\",\"plugins\":["
    "{\"type\":\"sdnbridge\",\"capabilities\":{\"portMappings\":true,\"dns\":true},"
    "\"ipam\":{\"subnet\":\"10.244.1.0/24\"},\"runtimeConfig\":{\"stale\":1}},"
    "{\"type\":\"bandwidth\",\"capabilities\":{\"bandwidth\":true}}]}";

static const char *result_1_0 =
    "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"00-15-5D-01-02-03\"}],"
    "\"ips\":[{\"address\":\"fd00:10:244:1::7/64\",\"interface\":0},"
    "{\"address\":\"10.244.1.7/24\",\"gateway\":\"10.244.1.1\",\"interface\":0}],"
    "\"dns\":{\"nameservers\":[\"10.96.0.10\"]}}";

static hns_cni_win_request base_request(const char *const *dirs, size_t n_dirs)
{
    static const hns_hcn_port_mapping ports[] = {
        {.protocol = "TCP", .container_port = 80, .host_port = 8080},
        {.protocol = "UDP", .container_port = 53, .host_port = 5353, .host_ip = "10.0.0.4"},
    };
    static const char *const servers[] = {"10.96.0.10"};
    static const char *const searches[] = {"default.svc.cluster.local", "svc.cluster.local",
                                           "cluster.local"};
    hns_cni_win_request rq = {.command = "ADD",
                              .container_id = "8d1f6b2a9c",
                              .netns = NS,
                              .bin_dirs = dirs,
                              .n_bin_dirs = n_dirs,
                              .dir_sep = '/',
                              .exists = exists,
                              .pod_namespace = "default",
                              .pod_name = "web-0",
                              .pod_uid = "0d7e2c7a-1111-4222-8333-944445555666",
                              .ports = ports,
                              .n_ports = 2,
                              .dns_servers = servers,
                              .n_dns_servers = 1,
                              .dns_searches = searches,
                              .n_dns_searches = 3,
                              .ingress_bps = 1000000,
                              .egress_bps = 0};
    return rq;
}

/* ADD with the first plugin of a conflist: exe from the second bin dir (the first has no
 * sdnbridge.exe), CNI_* env, stdin with list name/version and the declared capabilities
 * only, DNS without options; the canned 1.0 result gives IPv4 first. */
static void add_invocation_through_fake_plugin(void **state)
{
    install_plugin("sdnbridge.exe", result_1_0);
    const char *dirs[] = {"/nonexistent/cni/bin", bindir};
    hns_cni_win_request rq = base_request(dirs, 2);
    hns_cni_win_invocation inv;
    wc_err err = {0};
    assert_int_equal(hns_cni_win_build(conflist, 0, NULL, &rq, &inv, &err), 0);
    char want_exe[512];
    snprintf(want_exe, sizeof want_exe, "%s/sdnbridge.exe", bindir);
    assert_string_equal(inv.exe, want_exe);
    assert_string_equal(inv.plugin, "sdnbridge");

    int status;
    char *out = run(&inv, &status);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    char path[512];
    snprintf(path, sizeof path, "%s/sdnbridge.exe.env", bindir);
    char *env = slurp(path);
    char want_env[2048];
    snprintf(want_env, sizeof want_env,
             "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
             "K8S_POD_INFRA_CONTAINER_ID=8d1f6b2a9c;K8S_POD_UID=0d7e2c7a-1111-4222-8333-"
             "944445555666\n"
             "CNI_COMMAND=ADD\n"
             "CNI_CONTAINERID=8d1f6b2a9c\n"
             "CNI_IFNAME=eth0\n"
             "CNI_NETNS=%s\n"
             "CNI_PATH=/nonexistent/cni/bin;%s\n",
             NS, bindir);
    assert_string_equal(env, want_env);

    snprintf(path, sizeof path, "%s/sdnbridge.exe.stdin", bindir);
    char *in = slurp(path);
    json_t *got = json_loads(in, 0, NULL);
    json_t *want = json_loads(
        "{\"type\":\"sdnbridge\",\"capabilities\":{\"portMappings\":true,\"dns\":true},"
        "\"ipam\":{\"subnet\":\"10.244.1.0/24\"},\"name\":\"cbr0\",\"cniVersion\":\"1.0.0\","
        "\"runtimeConfig\":{"
        "\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"},"
        "{\"hostPort\":5353,\"containerPort\":53,\"protocol\":\"udp\",\"hostIP\":\"10.0.0.4\"}],"
        "\"dns\":{\"servers\":[\"10.96.0.10\"],\"searches\":[\"default.svc.cluster.local\","
        "\"svc.cluster.local\",\"cluster.local\"]}}}",
        0, NULL);
    if (!json_equal(got, want))
        fail_msg("stdin differs:\n%s", in);
    assert_null(strstr(in, "options"));
    assert_null(strstr(in, "bandwidth"));
    json_decref(got);
    json_decref(want);

    hns_cni_win_result res;
    assert_int_equal(hns_cni_win_parse_result(inv.plugin, out, &res, &err), 0);
    assert_string_equal(res.cni_version, "1.0.0");
    assert_int_equal(res.n_ips, 2);
    assert_string_equal(res.ips[0], "10.244.1.7");
    assert_string_equal(res.ips[1], "fd00:10:244:1::7");
    assert_string_equal(res.gateway, "10.244.1.1");
    free(env);
    free(in);
    free(out);
    hns_cni_win_invocation_free(&inv);
}

/* The chained bandwidth plugin gets prevResult and only its bandwidth capability, with
 * containerd's burst value (math.MaxUint32). */
static void chained_plugin_gets_prev_result(void **state)
{
    install_plugin("bandwidth.exe", result_1_0);
    const char *dirs[] = {bindir};
    hns_cni_win_request rq = base_request(dirs, 1);
    hns_cni_win_invocation inv;
    wc_err err = {0};
    assert_int_equal(hns_cni_win_build(conflist, 1, result_1_0, &rq, &inv, &err), 0);
    int status;
    char *out = run(&inv, &status);
    assert_int_equal(WEXITSTATUS(status), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/bandwidth.exe.stdin", bindir);
    char *in = slurp(path);
    json_t *got = json_loads(in, 0, NULL);
    json_t *rc = json_object_get(got, "runtimeConfig");
    json_t *want_rc = json_loads("{\"bandwidth\":{\"ingressRate\":1000000,"
                                 "\"ingressBurst\":4294967295}}",
                                 0, NULL);
    assert_true(json_equal(rc, want_rc));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(got, "prevResult"), "cniVersion")),
        "1.0.0");
    assert_string_equal(json_string_value(json_object_get(got, "name")), "cbr0");
    json_decref(want_rc);
    json_decref(got);
    free(in);
    free(out);
    hns_cni_win_invocation_free(&inv);
}

/* DEL on stop: same env shape with CNI_COMMAND=DEL; a plugin error object becomes an
 * error naming the plugin and CNI code. */
static void del_and_plugin_error(void **state)
{
    install_plugin("sdnbridge.exe", "exit 1\n{\"cniVersion\":\"1.0.0\",\"code\":11,"
                                    "\"msg\":\"HNS failed\",\"details\":\"endpoint busy\"}\n");
    const char *dirs[] = {bindir};
    hns_cni_win_request rq = base_request(dirs, 1);
    rq.command = "DEL";
    hns_cni_win_invocation inv;
    wc_err err = {0};
    assert_int_equal(hns_cni_win_build(conflist, 0, NULL, &rq, &inv, &err), 0);
    int status;
    char *out = run(&inv, &status);
    assert_int_equal(WEXITSTATUS(status), 1);
    char path[512];
    snprintf(path, sizeof path, "%s/sdnbridge.exe.env", bindir);
    char *env = slurp(path);
    assert_non_null(strstr(env, "CNI_COMMAND=DEL\n"));
    hns_cni_win_result res;
    assert_int_equal(hns_cni_win_parse_result(inv.plugin, out, &res, &err), -1);
    assert_string_equal(err.msg,
                        "CNI plugin sdnbridge failed with code 11: HNS failed: endpoint busy");
    free(env);
    free(out);
    hns_cni_win_invocation_free(&inv);
}

/* A single .conf (no plugins list), Windows path joining by default. */
static void single_conf_windows_paths(void **state)
{
    const char *conf = "{\"cniVersion\":\"0.3.1\",\"name\":\"nat\",\"type\":\"nat\","
                       "\"capabilities\":{\"dns\":true}}";
    const char *dirs[] = {"C:\\k\\cni\\bin", "D:\\cni\\"};
    hns_cni_win_request rq = base_request(dirs, 2);
    rq.dir_sep = 0;
    rq.exists = NULL;
    rq.n_dns_searches = 0;
    hns_cni_win_invocation inv;
    wc_err err = {0};
    assert_int_equal(hns_cni_win_plugin_count(conf, &err), 1);
    assert_int_equal(hns_cni_win_plugin_count(conflist, &err), 2);
    assert_int_equal(hns_cni_win_build(conf, 0, NULL, &rq, &inv, &err), 0);
    assert_string_equal(inv.exe, "C:\\k\\cni\\bin\\nat.exe");
    int saw_path = 0;
    for (char **e = inv.env; *e; e++)
        if (strcmp(*e, "CNI_PATH=C:\\k\\cni\\bin;D:\\cni\\") == 0)
            saw_path = 1;
    assert_true(saw_path);
    json_t *j = json_loads(inv.stdin_json, 0, NULL);
    json_t *dns = json_object_get(json_object_get(j, "runtimeConfig"), "dns");
    assert_int_equal(json_array_size(json_object_get(dns, "servers")), 1);
    assert_null(json_object_get(dns, "options"));
    json_decref(j);
    hns_cni_win_invocation_free(&inv);
    assert_int_equal(hns_cni_win_build(conf, 1, NULL, &rq, &inv, &err), -1);
}

static void build_refusals(void **state)
{
    const char *dirs[] = {bindir};
    hns_cni_win_request rq = base_request(dirs, 1);
    hns_cni_win_invocation inv;
    wc_err err = {0};
    rq.netns = "/var/run/netns/cni-1234";
    assert_int_equal(hns_cni_win_build(conflist, 0, NULL, &rq, &inv, &err), -1);
    assert_string_equal(err.msg, "CNI ADD: network namespace \"/var/run/netns/cni-1234\" is not an "
                                 "HCN namespace GUID");
    rq.netns = NS;
    assert_int_equal(
        hns_cni_win_build("{\"name\":\"x\",\"type\":\"../evil\"}", 0, NULL, &rq, &inv, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_int_equal(
        hns_cni_win_build("{\"name\":\"x\",\"type\":\"missing\"}", 0, NULL, &rq, &inv, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, "missing.exe not found"));
    assert_int_equal(hns_cni_win_build("[]", 0, NULL, &rq, &inv, &err), -1);
    assert_int_equal(hns_cni_win_build("{\"type\":\"nat\"}", 0, NULL, &rq, &inv, &err), -1);
    assert_string_equal(err.msg, "CNI network config has no \"name\"");
}

static void result_versions(void **state)
{
    hns_cni_win_result res;
    wc_err err = {0};
    /* 0.3.1 */
    assert_int_equal(hns_cni_win_parse_result("nat",
                                              "{\"cniVersion\":\"0.3.1\",\"ips\":[{\"version\":"
                                              "\"4\",\"address\":\"172.30.0.9/16\",\"gateway\":"
                                              "\"172.30.0.1\"}]}",
                                              &res, &err),
                     0);
    assert_string_equal(res.ips[0], "172.30.0.9");
    /* 0.2.0 */
    assert_int_equal(hns_cni_win_parse_result("nat",
                                              "{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":"
                                              "\"172.30.0.8/16\"}}",
                                              &res, &err),
                     0);
    assert_string_equal(res.ips[0], "172.30.0.8");
    assert_int_equal(hns_cni_win_parse_result("nat", "{\"cniVersion\":\"1.0.0\"}", &res, &err), -1);
    assert_string_equal(err.msg, "CNI plugin nat returned no IP address for the pod");
    assert_int_equal(hns_cni_win_parse_result("nat", "", &res, &err), -1);
    assert_non_null(strstr(err.msg, "printed no JSON result"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_invocation_through_fake_plugin),
        cmocka_unit_test(chained_plugin_gets_prev_result),
        cmocka_unit_test(del_and_plugin_error),
        cmocka_unit_test(single_conf_windows_paths),
        cmocka_unit_test(build_refusals),
        cmocka_unit_test(result_versions),
    };
    return cmocka_run_group_tests_name("cni_win", tests, setup, teardown);
}
