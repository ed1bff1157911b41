/* Recovery (podsandbox/recover.c) as its header promises. The model runs in a child process that
 * dies (SIGKILL) at each named crash point of every mutating verb; the fake backend's state is
 * shared, so this process reopens the model over the store and the backend exactly as the
 * killed one left them. Then records whose backend state changed while wincrid was away (written
 * directly), and what no record owns. */
#include "tests/unit/podtest.h"

#include <string.h>

#include "common/clock.h"

/* ---- what the killed child was doing ---- */

static int child_run_pod(podtest *t, void *arg)
{
    pod_sandbox_config *c = pt_sandbox_config(arg, 0);
    char *id = NULL;
    wc_err err = {0};
    int rc = pod_sandbox_run(t->pm, c, "", &id, &err);
    free(id);
    pod_sandbox_config_unref(c);
    return rc;
}

static int child_create(podtest *t, void *sandbox_id)
{
    pod_container_config *c = pt_container_config("app", 0);
    char *id = NULL;
    wc_err err = {0};
    int rc = pod_container_create(t->pm, sandbox_id, c, &id, &err);
    free(id);
    pod_container_config_unref(c);
    return rc;
}

static int child_start(podtest *t, void *id)
{
    wc_err err = {0};
    return pod_container_start(t->pm, id, &err);
}

static int child_stop_now(podtest *t, void *id)
{
    wc_err err = {0};
    return pod_container_stop(t->pm, id, 0, &err);
}

static int child_stop_with_grace(podtest *t, void *id)
{
    wc_err err = {0};
    return pod_container_stop(t->pm, id, 600, &err);
}

static int child_remove(podtest *t, void *id)
{
    wc_err err = {0};
    return pod_container_remove(t->pm, id, &err);
}

static int child_stop_pod(podtest *t, void *id)
{
    wc_err err = {0};
    return pod_sandbox_stop(t->pm, id, &err);
}

static int child_remove_pod(podtest *t, void *id)
{
    wc_err err = {0};
    return pod_sandbox_remove(t->pm, id, &err);
}

/* ---- helpers ---- */

static char *netns_of(const char *sandbox_id)
{
    char *n = malloc(POD_ID_LEN + 32);
    snprintf(n, POD_ID_LEN + 32, "/run/netns/fake-%s", sandbox_id);
    return n;
}

static void assert_intent(podtest *t, const char *table, const char *id, const char *want)
{
    char *intent = pt_db_text(t, table, id, "intent");
    assert_non_null(intent);
    assert_string_equal(intent, want);
    free(intent);
}

/* The only pod there is (caller frees). */
static char *only_sandbox(podtest *t)
{
    pod_sandbox_info **list = NULL;
    size_t n = 0;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_list(t->pm, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    char *id = strdup(list[0]->id);
    pod_sandbox_list_free(list, n);
    return id;
}

static char *only_container(podtest *t)
{
    pod_container_info **list = NULL;
    size_t n = 0;
    wc_err err = {0};
    assert_int_equal(pod_container_list(t->pm, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    char *id = strdup(list[0]->id);
    pod_container_list_free(list, n);
    return id;
}

static void assert_nothing_at_all(podtest *t)
{
    assert_int_equal(pt_db_count(t, "sandboxes", NULL), 0);
    assert_int_equal(pt_db_count(t, "containers", NULL), 0);
    assert_int_equal(pt_n_sandboxes(t), 0);
    assert_int_equal(pt_n_containers(t), 0);
    if (fake_netns_count() || fake_attached_count() || fake_sandboxes_set_up() ||
        fake_ctr_count() || fake_holds(NULL) || fake_stdio_held())
        fail_msg("left behind: %zu namespaces, %zu attachments, %zu set-ups, %zu containers, "
                 "%zu holds, %zu stdio\n%s",
                 fake_netns_count(), fake_attached_count(), fake_sandboxes_set_up(),
                 fake_ctr_count(), fake_holds(NULL), fake_stdio_held(), fake_log_text());
}

/* ---- RunPodSandbox cut short: rolled back; committed: kept ---- */

static void run_pod_cut_short_at(podtest *t, const char *point)
{
    pt_crash_in_child(t, point, child_run_pod, "web");
    assert_nothing_at_all(t);
    /* The kubelet never got an id; its retry runs the pod. */
    char *sid = pt_run_pod(t, "web");
    assert_true(pt_sandbox_ready(t, sid));
    free(sid);
}

#define RUN_CUT_AT(point, name)                                                                    \
    static void run_pod_cut_short_at_##name##_is_rolled_back(void **state)                         \
    {                                                                                              \
        run_pod_cut_short_at(*state, point);                                                       \
    }
RUN_CUT_AT("sandbox.run.recorded", recorded)
RUN_CUT_AT("sandbox.run.setup", setup)
RUN_CUT_AT("sandbox.run.netns", netns)
RUN_CUT_AT("sandbox.run.cni", cni)

static void run_pod_committed_is_kept(void **state)
{
    podtest *t = *state;
    pt_crash_in_child(t, "sandbox.run.committed", child_run_pod, "web");
    char *sid = only_sandbox(t);
    char *netns = netns_of(sid);
    assert_true(pt_sandbox_ready(t, sid));
    assert_true(fake_netns_attached(netns));
    assert_true(fake_sandbox_set_up(sid));
    assert_intent(t, "sandboxes", sid, "");
    char *c = pt_create(t, sid, "app");
    free(c);
    free(netns);
    free(sid);
}

/* ---- CreateContainer ---- */

static void create_cut_short_at(podtest *t, const char *point)
{
    char *sid = pt_run_pod(t, "web");
    pt_crash_in_child(t, point, child_create, sid);
    assert_int_equal(pt_db_count(t, "containers", NULL), 0);
    assert_int_equal(pt_n_containers(t), 0);
    assert_int_equal(fake_ctr_count(), 0);
    assert_int_equal(fake_holds(NULL), 0);
    char *cid = pt_create(t, sid, "app"); /* the name is free */
    free(cid);
    free(sid);
}

static void create_cut_short_after_the_record_is_rolled_back(void **state)
{
    create_cut_short_at(*state, "container.create.recorded");
}

static void create_cut_short_after_the_backend_is_rolled_back(void **state)
{
    create_cut_short_at(*state, "container.create.backend");
}

static void create_committed_is_kept(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    pt_crash_in_child(t, "container.create.committed", child_create, sid);
    char *cid = only_container(t);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_CREATED);
    assert_int_equal(fake_ctr_status(cid), HCS_CREATED);
    assert_int_equal(fake_holds(cid), 1);
    assert_intent(t, "containers", cid, "");
    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    free(cid);
    free(sid);
}

/* ---- StartContainer ---- */

static void start_cut_short_before_the_backend_stays_created(podtest *t, const char *point)
{
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    pt_crash_in_child(t, point, child_start, cid);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_CREATED);
    assert_int_equal(fake_ctr_status(cid), HCS_CREATED);
    assert_intent(t, "containers", cid, "");
    /* StartContainer can be retried. */
    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    free(cid);
    free(sid);
}

static void start_cut_short_after_the_record_stays_created(void **state)
{
    start_cut_short_before_the_backend_stays_created(*state, "container.start.recorded");
}

static void start_cut_short_after_stdio_stays_created(void **state)
{
    start_cut_short_before_the_backend_stays_created(*state, "container.start.stdio");
}

static void start_cut_short_after_the_backend_is_running(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    pt_crash_in_child(t, "container.start.started", child_start, cid);
    pod_container_info *i = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), 0);
    assert_int_equal(i->state, POD_CONTAINER_RUNNING);
    assert_int_equal(i->pid, fake_ctr_pid(cid));
    assert_true(i->started_ns > 0);
    pod_container_info_free(i);
    assert_intent(t, "containers", cid, "");
    /* Watched again, and its output held again. */
    assert_int_equal(fake_calls("hcs_adopt", cid), 1);
    assert_int_equal(fake_stdio_holds(cid), 1);
    fake_exit(cid, 4);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, cid), 4);
    free(cid);
    free(sid);
}

/* ---- StopContainer ---- */

static void stop_cut_short_past_its_deadline_is_killed(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_crash_in_child(t, "container.stop.recorded", child_stop_now, cid);
    assert_int_equal(fake_last_arg("hcs_kill", cid), 9);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, cid), 137);
    assert_int_equal(fake_ctr_status(cid), HCS_STOPPED);
    assert_intent(t, "containers", cid, "");
    free(cid);
    free(sid);
}

static void stop_cut_short_within_its_grace_is_signalled_again(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_ignore_soft_signals(1);
    pt_crash_in_child(t, "container.stop.recorded", child_stop_with_grace, cid);
    /* The stop signal again, no SIGKILL: the kubelet's retry of StopContainer waits the rest. */
    assert_int_equal(fake_calls("hcs_kill", cid), 1);
    assert_int_equal(fake_last_arg("hcs_kill", cid), 15);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    assert_intent(t, "containers", cid, "");
    free(cid);
    free(sid);
}

static void stop_cut_short_after_the_exit_is_exited(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_crash_in_child(t, "container.stop.exited", child_stop_now, cid);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, cid), 137);
    assert_intent(t, "containers", cid, "");
    free(cid);
    free(sid);
}

/* ---- RemoveContainer: rolled forward ---- */

static void remove_cut_short_at(podtest *t, const char *point)
{
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_crash_in_child(t, point, child_remove, cid);
    pt_assert_container_gone(t, cid);
    assert_true(pt_sandbox_ready(t, sid));
    free(cid);
    free(sid);
}

static void remove_cut_short_after_the_record_is_finished(void **state)
{
    remove_cut_short_at(*state, "container.remove.recorded");
}

static void remove_cut_short_after_reclaiming_is_finished(void **state)
{
    remove_cut_short_at(*state, "container.remove.reclaimed");
}

/* ---- StopPodSandbox, RemovePodSandbox: rolled forward ---- */

static void stop_pod_cut_short_at(podtest *t, const char *point)
{
    char *sid = pt_run_pod(t, "web");
    char *netns = netns_of(sid);
    char *cid = pt_create_started(t, sid, "app");
    pt_crash_in_child(t, point, child_stop_pod, sid);
    assert_false(pt_sandbox_ready(t, sid));
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_false(fake_netns_exists(netns));
    assert_false(fake_netns_attached(netns));
    assert_false(fake_sandbox_set_up(sid));
    assert_intent(t, "sandboxes", sid, "");
    free(cid);
    free(netns);
    free(sid);
}

#define STOP_POD_CUT_AT(point, name)                                                               \
    static void stop_pod_cut_short_at_##name##_is_finished(void **state)                           \
    {                                                                                              \
        stop_pod_cut_short_at(*state, point);                                                      \
    }
STOP_POD_CUT_AT("sandbox.stop.recorded", recorded)
STOP_POD_CUT_AT("sandbox.stop.containers", containers)
STOP_POD_CUT_AT("sandbox.stop.network", network)

static void remove_pod_cut_short_at(podtest *t, const char *point)
{
    char *sid = pt_run_pod(t, "web");
    char *a = pt_create_started(t, sid, "a");
    char *b = pt_create(t, sid, "b");
    pt_crash_in_child(t, point, child_remove_pod, sid);
    pt_assert_container_gone(t, a);
    pt_assert_container_gone(t, b);
    pt_assert_sandbox_gone(t, sid);
    assert_nothing_at_all(t);
    char *again = pt_run_pod(t, "web");
    free(again);
    free(a);
    free(b);
    free(sid);
}

#define REMOVE_POD_CUT_AT(point, name)                                                             \
    static void remove_pod_cut_short_at_##name##_is_finished(void **state)                         \
    {                                                                                              \
        remove_pod_cut_short_at(*state, point);                                                    \
    }
REMOVE_POD_CUT_AT("sandbox.remove.recorded", recorded)
REMOVE_POD_CUT_AT("sandbox.remove.containers", containers)
REMOVE_POD_CUT_AT("sandbox.remove.network", network)
REMOVE_POD_CUT_AT("sandbox.remove.deleted", deleted)

/* ---- the backend changed while wincrid was away ---- */

/* Sets a container's record as a killed wincrid could have left it (the model is closed). */
static void set_record(podtest *t, const char *cid, int state, const char *intent)
{
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE containers SET state = %d, intent = '%s' WHERE id = '%s'",
             state, intent, cid);
    pt_db_exec(t, sql);
}

static void running_container_still_running_is_watched_again(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    int pid = fake_ctr_pid(cid);
    pt_reopen(t);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    assert_int_equal(fake_calls("hcs_adopt", cid), 1);
    assert_int_equal(fake_last_arg("pod_platform_stdio_recover", cid), pid);
    assert_int_equal(fake_stdio_holds(cid), 1);
    /* Its exit reaches the reopened model. */
    fake_exit(cid, 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    char *reason = pt_reason(t, cid);
    assert_string_equal(reason, "Completed");
    free(reason);
    free(cid);
    free(sid);
}

static void created_container_stays_created(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    pt_reopen(t);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_CREATED);
    assert_int_equal(fake_calls("hcs_adopt", cid), 0);
    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    free(cid);
    free(sid);
}

/* It exited while wincrid was down, and the stdio keeper saw its status. */
static void exit_the_keeper_recorded_is_taken(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_close(t);
    fake_ctr_put(cid, sid, "runc", HCS_STOPPED, 0);
    int64_t at = wc_clock_realtime_ns() - 1000000000LL;
    fake_stdio_recorded_exit(cid, 3, at);
    pt_open(t);
    pod_container_info *i = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), 0);
    assert_int_equal(i->state, POD_CONTAINER_EXITED);
    assert_int_equal(i->exit_code, 3);
    assert_string_equal(i->reason, "Error");
    assert_int_equal(i->finished_ns, at);
    pod_container_info_free(i);
    free(cid);
    free(sid);
}

static void exit_nobody_saw_is_unknown(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_close(t);
    fake_ctr_put(cid, sid, "runc", HCS_STOPPED, 0);
    pt_open(t);
    pod_container_info *i = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), 0);
    assert_int_equal(i->state, POD_CONTAINER_EXITED);
    assert_int_equal(i->exit_code, 255);
    assert_string_equal(i->reason, "Unknown");
    assert_non_null(strstr(i->message, "exited while wincrid"));
    pod_container_info_free(i);
    free(cid);
    free(sid);
}

static void container_the_backend_lost_is_exited(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_close(t);
    fake_ctr_drop(cid);
    pt_open(t);
    pod_container_info *i = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), 0);
    assert_int_equal(i->state, POD_CONTAINER_EXITED);
    assert_int_equal(i->exit_code, 255);
    assert_string_equal(i->reason, "Unknown");
    assert_non_null(strstr(i->message, "gone"));
    pod_container_info_free(i);
    /* It can be removed. */
    assert_int_equal(pod_container_remove(t->pm, cid, &err), 0);
    pt_assert_container_gone(t, cid);
    free(cid);
    free(sid);
}

/* StartContainer cut short (intent "start"): the backend's state decides. */
static void start_cut_short_then_exited_is_exited(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    pt_close(t);
    set_record(t, cid, POD_CONTAINER_CREATED, "start");
    fake_ctr_put(cid, sid, "runc", HCS_STOPPED, 0); /* it started and ended meanwhile */
    pt_open(t);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    char *reason = pt_reason(t, cid);
    assert_string_equal(reason, "Unknown");
    free(reason);
    assert_intent(t, "containers", cid, "");
    free(cid);
    free(sid);
}

/* StopContainer cut short within its grace: the container's own stop signal goes again. */
static void stop_cut_short_signals_the_containers_stop_signal(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    pod_container_config *c = pt_container_config_json(
        "{\"name\": \"app\", \"image\": \"busybox\", \"stop_signal\": 10}"); /* SIGINT */
    char *cid = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), 0);
    pod_container_config_unref(c);
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    pt_close(t);
    char intent[64];
    snprintf(intent, sizeof intent, "stop@%lld",
             (long long)(wc_clock_realtime_ns() + 600 * 1000000000LL));
    set_record(t, cid, POD_CONTAINER_RUNNING, intent);
    pt_open(t);
    assert_int_equal(fake_last_arg("hcs_kill", cid), 2);
    assert_int_equal(pt_exit_code(t, cid), 130);
    assert_intent(t, "containers", cid, "");
    free(cid);
    free(sid);
}

/* ---- what no record owns ---- */

static const char stray[] = "5742a75742a75742a75742a75742a75742a75742a75742a75742a75742a75742";

static void backend_containers_no_record_owns_are_deleted(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_close(t);
    fake_ctr_put(stray, sid, "runc", HCS_RUNNING, 77);
    fake_ctr_put("not-even-an-id", "", "spare", HCS_CREATED, 0);
    pt_open(t);
    assert_int_equal(fake_ctr_status(stray), HCS_MISSING);
    assert_int_equal(fake_ctr_status("not-even-an-id"), HCS_MISSING);
    assert_int_equal(fake_calls("hcs_delete", stray), 1);
    /* What a record owns is untouched. */
    assert_int_equal(fake_ctr_status(cid), HCS_RUNNING);
    assert_int_equal(fake_calls("hcs_delete", cid), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    free(cid);
    free(sid);
}

/* A record that cannot be read still owns its container: it is kept, and so is the record. */
static void a_container_whose_record_is_unreadable_is_kept(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_close(t);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE containers SET config = x'00ff' WHERE id = '%s'", cid);
    pt_db_exec(t, sql);
    pt_open(t);
    pod_container_info *i = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_int_equal(fake_ctr_status(cid), HCS_RUNNING);
    assert_int_equal(fake_calls("hcs_delete", cid), 0);
    assert_int_equal(pt_db_count(t, "containers", cid), 1);
    assert_true(pt_dir_exists(t, "containers", cid));
    free(cid);
    free(sid);
}

static void directories_no_record_owns_are_removed(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    pt_close(t);
    pt_make_dir(t, "sandboxes", stray);
    pt_make_dir(t, "containers", stray);
    pt_make_dir(t, "bundles", stray);
    pt_make_dir(t, "containers", "keep-me"); /* not an id: not ours to judge */
    pt_open(t);
    assert_false(pt_dir_exists(t, "sandboxes", stray));
    assert_false(pt_dir_exists(t, "containers", stray));
    assert_false(pt_dir_exists(t, "bundles", stray));
    assert_true(pt_dir_exists(t, "containers", "keep-me"));
    assert_true(pt_dir_exists(t, "sandboxes", sid));
    assert_true(pt_dir_exists(t, "containers", cid));
    assert_true(pt_dir_exists(t, "bundles", cid));
    free(cid);
    free(sid);
}

/* ---- recovery that cannot finish, and recovery run twice ---- */

static void removal_recovery_cannot_finish_is_finished_next_time(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    pt_close(t);
    set_record(t, cid, POD_CONTAINER_RUNNING, "remove");
    fake_fail("hcs_delete", 1, WC_INTERNAL);
    pt_open(t);
    /* Still there, the removal still under way. */
    assert_int_equal(pt_db_count(t, "containers", cid), 1);
    assert_intent(t, "containers", cid, "remove");
    pt_reopen(t);
    pt_assert_container_gone(t, cid);
    free(cid);
    free(sid);
}

static void recovery_twice_changes_nothing_more(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *running = pt_create_started(t, sid, "a");
    char *created = pt_create(t, sid, "b");
    char *exited = pt_create_started(t, sid, "c");
    fake_exit(exited, 1);
    pt_reopen(t);
    fake_log_clear();
    pt_reopen(t);
    assert_int_equal(fake_calls("hcs_delete", NULL), 0);
    assert_int_equal(fake_calls("hcs_kill", NULL), 0);
    assert_int_equal(fake_calls("hns_detach", NULL), 0);
    assert_int_equal(pt_state(t, running), POD_CONTAINER_RUNNING);
    assert_int_equal(pt_state(t, created), POD_CONTAINER_CREATED);
    assert_int_equal(pt_state(t, exited), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, exited), 1);
    assert_true(pt_sandbox_ready(t, sid));
    free(running);
    free(created);
    free(exited);
    free(sid);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, pt_setup, pt_teardown)
    const struct CMUnitTest tests[] = {
        T(run_pod_cut_short_at_recorded_is_rolled_back),
        T(run_pod_cut_short_at_setup_is_rolled_back),
        T(run_pod_cut_short_at_netns_is_rolled_back),
        T(run_pod_cut_short_at_cni_is_rolled_back),
        T(run_pod_committed_is_kept),
        T(create_cut_short_after_the_record_is_rolled_back),
        T(create_cut_short_after_the_backend_is_rolled_back),
        T(create_committed_is_kept),
        T(start_cut_short_after_the_record_stays_created),
        T(start_cut_short_after_stdio_stays_created),
        T(start_cut_short_after_the_backend_is_running),
        T(stop_cut_short_past_its_deadline_is_killed),
        T(stop_cut_short_within_its_grace_is_signalled_again),
        T(stop_cut_short_after_the_exit_is_exited),
        T(remove_cut_short_after_the_record_is_finished),
        T(remove_cut_short_after_reclaiming_is_finished),
        T(stop_pod_cut_short_at_recorded_is_finished),
        T(stop_pod_cut_short_at_containers_is_finished),
        T(stop_pod_cut_short_at_network_is_finished),
        T(remove_pod_cut_short_at_recorded_is_finished),
        T(remove_pod_cut_short_at_containers_is_finished),
        T(remove_pod_cut_short_at_network_is_finished),
        T(remove_pod_cut_short_at_deleted_is_finished),
        T(running_container_still_running_is_watched_again),
        T(created_container_stays_created),
        T(exit_the_keeper_recorded_is_taken),
        T(exit_nobody_saw_is_unknown),
        T(container_the_backend_lost_is_exited),
        T(start_cut_short_then_exited_is_exited),
        T(stop_cut_short_signals_the_containers_stop_signal),
        T(backend_containers_no_record_owns_are_deleted),
        T(a_container_whose_record_is_unreadable_is_kept),
        T(directories_no_record_owns_are_removed),
        T(removal_recovery_cannot_finish_is_finished_next_time),
        T(recovery_twice_changes_nothing_more),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
