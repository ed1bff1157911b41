/* winsim host: the state behind winegaps.c's stand-ins for what wine 8 lacks and a
 * HostProcess container needs (the logon of the built-in service accounts, CPU rate control
 * on job objects, symbolic links). winegaps.c runs inside wincrid.exe and asks here, so every
 * call is journalled and, like a job's settings on Windows, outlives a restart of wincrid.
 *
 * LogonUser: Microsoft's LogonUserW reference. The built-in accounts of domain NT AUTHORITY
 *   (SYSTEM S-1-5-18, LOCAL SERVICE S-1-5-19, NETWORK SERVICE S-1-5-20; the names without the
 *   space are accepted too, as Windows resolves them) log on with LOGON32_LOGON_SERVICE only:
 *   another logon type, or another name in NT AUTHORITY, is ERROR_LOGON_FAILURE (the code for
 *   the wrong type is the double's choice; the documented rule is that the account must hold
 *   the right for the logon type, and these accounts hold the service logon right). An
 *   unknown logon type or provider is ERROR_INVALID_PARAMETER, no user name too. A user of
 *   another domain is not the double's: S_FALSE sends winegaps.c to wine's own LogonUserW.
 *   Each logon gets a number, what winegaps.c ties to the token it hands out.
 * CreateProcessAsUser: the record of a process winegaps.c saw created with a token, named by
 *   its pid, with the logon (0 when the token came from elsewhere) and the SID.
 * SetInformationJobObject / QueryInformationJobObject, class JobObjectCpuRateControlInformation
 *   (JOBOBJECT_CPU_RATE_CONTROL_INFORMATION reference): kept per job, named by the job's name.
 *   Refused with ERROR_INVALID_PARAMETER as documented: an unknown flag, WEIGHT_BASED,
 *   HARD_CAP or MIN_MAX_RATE without ENABLE, MIN_MAX_RATE with WEIGHT_BASED or HARD_CAP,
 *   CpuRate 0 or above 10000, Weight outside 1..9, MinRate above MaxRate or MaxRate above
 *   10000 (the double's reading of "cycles per 10,000"). ControlFlags 0 turns rate control
 *   off. Nothing is enforced: wine schedules the processes as it likes.
 * CreateSymbolicLink: CreateSymbolicLinkW reference. The link must not exist
 *   (ERROR_ALREADY_EXISTS) and its folder must (ERROR_PATH_NOT_FOUND); flags other than
 *   SYMBOLIC_LINK_FLAG_DIRECTORY | SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE are
 *   ERROR_INVALID_PARAMETER. The link is a Unix symbolic link made with /bin/ln through wine's
 *   __wine_unix_spawnvp: wine follows it and reports it as a reparse point, as Windows would a
 *   symbolic link. What Windows adds and the test host does not: the file/directory kind of
 *   the link (a Unix link takes its target's), the SeCreateSymbolicLinkPrivilege check. */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGON32_LOGON_INTERACTIVE_ 2
#define LOGON32_LOGON_SERVICE_ 5
#define CPU_ENABLE 0x1
#define CPU_WEIGHT_BASED 0x2
#define CPU_HARD_CAP 0x4
#define CPU_NOTIFY 0x8
#define CPU_MIN_MAX 0x10

static const char *arg_s(req *r, const char *k)
{
    return sj_str(sj_get(r->in, k));
}

static long long arg_i(req *r, const char *k)
{
    return sj_int(sj_get(r->in, k), -1);
}

static void set_id(req *r, const char *id)
{
    free(r->journal_id);
    r->journal_id = xstrdup(id);
}

static void fail(req *r, DWORD e, const char *fmt, ...) __attribute__((format(gnu_printf, 3, 4)));
static void fail(req *r, DWORD e, const char *fmt, ...)
{
    r->hr = HRESULT_FROM_WIN32(e);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note, sizeof r->note, fmt, ap);
    va_end(ap);
}

/* ---- logons ---------------------------------------------------------------------------- */

typedef struct {
    const char *name, *alias, *sid;
} builtin;

static const builtin builtins[] = {{"SYSTEM", NULL, "S-1-5-18"},
                                   {"LOCAL SERVICE", "LocalService", "S-1-5-19"},
                                   {"NETWORK SERVICE", "NetworkService", "S-1-5-20"}};

static const builtin *builtin_named(const char *user)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (_stricmp(user, builtins[i].name) == 0 ||
            (builtins[i].alias && _stricmp(user, builtins[i].alias) == 0))
            return &builtins[i];
    return NULL;
}

static long long logons;

static void h_logon(req *r)
{
    const char *user = arg_s(r, "user"), *domain = arg_s(r, "domain");
    long long type = arg_i(r, "type"), provider = arg_i(r, "provider");
    char id[300];
    snprintf(id, sizeof id, "%s%s%s", domain ? domain : "", domain ? "\\" : "", user ? user : "");
    set_id(r, id);
    r->doc = arg_s(r, "doc");
    if (!user || !*user) {
        fail(r, ERROR_INVALID_PARAMETER, "no user name");
        return;
    }
    if (type < LOGON32_LOGON_INTERACTIVE_ || type == 6 || type > 9 || provider < 0 ||
        provider > 4) {
        fail(r, ERROR_INVALID_PARAMETER, "logon type %lld or provider %lld is not one Windows has",
             type, provider);
        return;
    }
    if (!domain || _stricmp(domain, "NT AUTHORITY") != 0) {
        r->hr = S_FALSE;
        snprintf(r->note, sizeof r->note, "not a built-in account: wine's LogonUserW answers");
        return;
    }
    const builtin *b = builtin_named(user);
    if (!b) {
        fail(r, ERROR_LOGON_FAILURE, "NT AUTHORITY has no account %s", user);
        return;
    }
    if (type != LOGON32_LOGON_SERVICE_) {
        fail(r, ERROR_LOGON_FAILURE,
             "NT AUTHORITY\\%s logs on with LOGON32_LOGON_SERVICE only, "
             "not type %lld",
             b->name, type);
        return;
    }
    long long n = ++logons;
    sb_addf(&r->out, ",\"logon\":%lld,\"sid\":", n);
    sb_qstr(&r->out, b->sid);
    sb_add(&r->out, ",\"account\":");
    char account[64];
    snprintf(account, sizeof account, "NT AUTHORITY\\%s", b->name);
    sb_qstr(&r->out, account);
    snprintf(r->note, sizeof r->note, "logon %lld: %s (%s)", n, account, b->sid);
}

static void h_process_as_user(req *r)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", arg_i(r, "process_id"));
    set_id(r, id);
    r->doc = arg_s(r, "doc");
    long long logon = arg_i(r, "logon");
    const char *sid = arg_s(r, "sid");
    if (logon > 0)
        snprintf(r->note, sizeof r->note, "process %s started with the token of logon %lld (%s)",
                 id, logon, sid ? sid : "?");
    else
        snprintf(r->note, sizeof r->note, "process %s started with a token no logon here made", id);
}

/* ---- job CPU rate control ------------------------------------------------------------- */

typedef struct job_rate {
    char name[200];
    unsigned long flags, value; /* value: CpuRate, Weight, or MinRate | MaxRate << 16 */
    struct job_rate *next;
} job_rate;
static job_rate *rates;

static job_rate *rate_of(const char *job, int add)
{
    for (job_rate *j = rates; j; j = j->next)
        if (_stricmp(j->name, job) == 0)
            return j;
    if (!add)
        return NULL;
    job_rate *j = calloc(1, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", job);
    j->next = rates;
    rates = j;
    return j;
}

/* NULL when the documented rules accept flags and value, else why not. */
static const char *rate_refusal(unsigned long f, unsigned long v)
{
    unsigned long min = v & 0xffff, max = v >> 16;
    if (f &
        ~(unsigned long)(CPU_ENABLE | CPU_WEIGHT_BASED | CPU_HARD_CAP | CPU_NOTIFY | CPU_MIN_MAX))
        return "unknown ControlFlags";
    if (!(f & CPU_ENABLE))
        return f ? "WEIGHT_BASED, HARD_CAP, MIN_MAX_RATE and NOTIFY need ENABLE" : NULL;
    if ((f & CPU_MIN_MAX) && (f & (CPU_WEIGHT_BASED | CPU_HARD_CAP)))
        return "MIN_MAX_RATE excludes WEIGHT_BASED and HARD_CAP";
    if (f & CPU_WEIGHT_BASED)
        return v < 1 || v > 9 ? "Weight is 1..9" : NULL;
    if (f & CPU_MIN_MAX)
        return max > 10000 || min > max ? "MinRate <= MaxRate <= 10000" : NULL;
    return v < 1 || v > 10000 ? "CpuRate is 1..10000" : NULL;
}

static void h_set_job(req *r)
{
    const char *job = arg_s(r, "job");
    set_id(r, job ? job : "");
    r->doc = arg_s(r, "doc");
    long long f = arg_i(r, "flags"), v = arg_i(r, "value");
    const char *why = f < 0 || v < 0 ? "no ControlFlags or value"
                                     : rate_refusal((unsigned long)f, (unsigned long)v);
    if (!job || why) {
        fail(r, ERROR_INVALID_PARAMETER, "%s", why ? why : "no job");
        return;
    }
    job_rate *j = rate_of(job, 1);
    j->flags = (unsigned long)f;
    j->value = f ? (unsigned long)v : 0;
}

static void h_query_job(req *r)
{
    const char *job = arg_s(r, "job");
    set_id(r, job ? job : "");
    job_rate *j = job ? rate_of(job, 0) : NULL;
    sb_addf(&r->out, ",\"flags\":%lu,\"value\":%lu", j ? j->flags : 0, j ? j->value : 0);
    if (!j)
        snprintf(r->note, sizeof r->note, "no CPU rate control set on this job");
}

/* ---- symbolic links ------------------------------------------------------------------- */

typedef LONG(CDECL *spawn_fn)(char *const argv[], int wait);
typedef char *(CDECL *unix_name_fn)(LPCWSTR);

/* Runs a Unix program and waits for it: its exit status, or -1 when it cannot run. */
static int unix_run(char *const argv[])
{
    spawn_fn spawn =
        (spawn_fn)(void *)GetProcAddress(GetModuleHandleA("ntdll.dll"), "__wine_unix_spawnvp");
    return spawn ? (int)spawn(argv, 1) : -1;
}

/* The Unix path of a Windows path (wine's kernel32 export); caller frees (HeapFree). */
static char *unix_path(const char *win)
{
    unix_name_fn fn = (unix_name_fn)(void *)GetProcAddress(GetModuleHandleA("kernel32.dll"),
                                                           "wine_get_unix_file_name");
    WCHAR w[MAX_PATH * 2];
    if (!fn || !MultiByteToWideChar(CP_UTF8, 0, win, -1, w, MAX_PATH * 2))
        return NULL;
    return fn(w);
}

static int is_absolute(const char *p)
{
    return (p[0] && p[1] == ':') || (p[0] == '\\' && p[1] == '\\');
}

/* The folder of path (without the last component). */
static void parent_of(const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    char *bs = strrchr(out, '\\');
    if (bs && bs > out + 2)
        *bs = '\0';
    else if (bs)
        bs[1] = '\0';
}

static void h_symlink(req *r)
{
    const char *link = arg_s(r, "link"), *target = arg_s(r, "target");
    long long flags = arg_i(r, "flags");
    set_id(r, link ? link : "");
    r->doc = arg_s(r, "doc");
    char parent[MAX_PATH];
    if (!link || !target || !*target || !is_absolute(link) || flags < 0 || (flags & ~3LL)) {
        fail(r, ERROR_INVALID_PARAMETER, "link, target or flags (%lld) not valid", flags);
        return;
    }
    parent_of(link, parent, sizeof parent);
    if (!dir_exists(parent)) {
        fail(r, ERROR_PATH_NOT_FOUND, "%s does not exist", parent);
        return;
    }
    char *ulink = unix_path(link), *utarget = NULL;
    if (ulink && is_absolute(target)) {
        utarget = unix_path(target);
    } else if (ulink) { /* relative to the link's folder, as Windows resolves it */
        utarget = HeapAlloc(GetProcessHeap(), 0, strlen(target) + 1);
        strcpy(utarget, target);
        for (char *p = utarget; *p; p++)
            if (*p == '\\')
                *p = '/';
    }
    int rc = -1;
    if (ulink && utarget) {
        char *argv[] = {"/bin/ln", "-s", "-T", "--", utarget, ulink, NULL};
        rc = path_exists(link) ? -2 : unix_run(argv);
    }
    if (rc == -2)
        fail(r, ERROR_ALREADY_EXISTS, "%s exists", link);
    else if (rc != 0)
        fail(r, ERROR_GEN_FAILURE, "cannot make the link (ln: %d)", rc);
    else
        snprintf(r->note, sizeof r->note, "%s -> %s", ulink, utarget);
    HeapFree(GetProcessHeap(), 0, ulink);
    HeapFree(GetProcessHeap(), 0, utarget);
}

int gaps_remove_link(const char *path)
{
    /* /bin/rm without -r removes the link itself, never what it points at (wine 8's
     * RemoveDirectory fails on a Unix link to a folder) */
    char *u = unix_path(path);
    char *argv[] = {"/bin/rm", "-f", "--", u, NULL};
    int rc = u ? unix_run(argv) : -1;
    HeapFree(GetProcessHeap(), 0, u);
    if (rc == -1) /* not under wine */
        return RemoveDirectoryA(path) || DeleteFileA(path) ? 0 : -1;
    return rc == 0 ? 0 : -1;
}

void gaps_remove_links_under(const char *dir)
{
    DWORD a = GetFileAttributesA(dir);
    if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY) ||
        (a & FILE_ATTRIBUTE_REPARSE_POINT))
        return;
    char *u = unix_path(dir);
    /* find does not follow links (-P): only the links themselves are deleted */
    char *argv[] = {"/usr/bin/find", "-P", u, "-type", "l", "-delete", NULL};
    if (u)
        unix_run(argv);
    HeapFree(GetProcessHeap(), 0, u);
}

void gaps_register(void)
{
    host_register("LogonUser", h_logon);
    host_register("CreateProcessAsUser", h_process_as_user);
    host_register("SetInformationJobObject", h_set_job);
    host_register("QueryInformationJobObject", h_query_job);
    host_register("CreateSymbolicLink", h_symlink);
}
