/* The pod model's state machine (podsandbox/sandbox.c, container_*.c) against the fake backend
 * (fake_backend.h): RunPodSandbox to RemovePodSandbox, CREATED -> RUNNING -> EXITED, the verbs
 * in the states where they do nothing or are refused, and exits that race StartContainer. */
#include "tests/unit/podtest.h"

#include <string.h>
#include <time.h>

#include "common/clock.h"

static char *netns_of(const char *sandbox_id)
{
    char *n = malloc(POD_ID_LEN + 32);
    snprintf(n, POD_ID_LEN + 32, "/run/netns/fake-%s", sandbox_id);
    return n;
}

static void run_pod_sets_up_network_namespaces_files_and_record(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *netns = netns_of(sid);
    pod_sandbox_info *i = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_get(t->pm, sid, &i, &err), 0);
    assert_int_equal(i->state, POD_SANDBOX_READY);
    assert_string_equal(i->netns, netns);
    assert_int_equal(i->n_ips, 1);
    assert_string_equal(i->ips[0], "10.88.0.2");
    assert_string_equal(i->handler, "runc");
    pod_sandbox_info_free(i);
    assert_true(fake_netns_exists(netns));
    assert_true(fake_netns_attached(netns));
    assert_true(fake_sandbox_set_up(sid));
    assert_true(pt_dir_exists(t, "sandboxes", sid));
    /* Committed: ready, nothing under way. */
    char *st = pt_db_text(t, "sandboxes", sid, "state");
    char *intent = pt_db_text(t, "sandboxes", sid, "intent");
    assert_string_equal(st, "0");
    assert_string_equal(intent, "");
    free(st);
    free(intent);
    /* The namespace was named in the record before it was made. */
    assert_true(fake_call_index("hns_netns_name", sid, 0) <
                fake_call_index("hns_netns_create", sid, 0));
    free(netns);
    free(sid);
}

static void host_network_pod_gets_no_namespace(void **state)
{
    podtest *t = *state;
    pod_sandbox_config *c = pt_sandbox_config_host_network("host");
    char *sid = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_run(t->pm, c, "", &sid, &err), 0);
    pod_sandbox_config_unref(c);
    assert_int_equal(fake_calls("hns_netns_create", NULL), 0);
    assert_int_equal(fake_calls("hns_attach", NULL), 0);
    assert_true(pt_sandbox_ready(t, sid));
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), 0);
    assert_int_equal(fake_calls("hns_detach", NULL), 0);
    pt_assert_sandbox_gone(t, sid);
    free(sid);
}

static void pod_runs_on_the_handler_it_names(void **state)
{
    podtest *t = *state;
    pod_sandbox_config *c = pt_sandbox_config("web", 0);
    char *sid = NULL, *cid = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_run(t->pm, c, "spare", &sid, &err), 0);
    pod_sandbox_config_unref(c);
    cid = pt_create(t, sid, "app");
    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(hcs_list(pod_runtime_for(t->pm, "spare", &err), &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], cid);
    free(ids[0]);
    free(ids);
    free(cid);
    free(sid);
}

static void container_goes_created_running_exited(void **state)
{
    podtest *t = *state;
    pod_event_sub *sub = pod_events_subscribe(t->pm);
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_CREATED);
    assert_int_equal(fake_ctr_status(cid), HCS_CREATED);
    assert_int_equal(fake_last_arg("hcs_create", cid), 1); /* the image's one layer */
    assert_int_equal(fake_holds(cid), 1);                  /* the image is held */
    assert_true(pt_dir_exists(t, "containers", cid));
    assert_true(pt_dir_exists(t, "bundles", cid));

    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    assert_int_equal(fake_stdio_holds(cid), 1);
    /* Its output has a holder before it starts. */
    assert_true(fake_call_index("pod_platform_stdio_begin", cid, 0) <
                fake_call_index("hcs_start", cid, 0));
    pod_container_info *i = NULL;
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), 0);
    assert_int_equal(i->pid, fake_ctr_pid(cid));
    assert_true(i->started_ns >= i->created_ns);
    assert_true(i->user.known);
    assert_int_equal(i->user.uid, 1000);
    assert_int_equal(i->user.n_groups, 2);
    pod_container_info_free(i);

    fake_exit(cid, 3);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, cid), 3);
    char *reason = pt_reason(t, cid);
    assert_string_equal(reason, "Error");
    free(reason);
    /* The exit is in the store too. */
    char *st = pt_db_text(t, "containers", cid, "state");
    char *code = pt_db_text(t, "containers", cid, "exit_code");
    assert_string_equal(st, "2");
    assert_string_equal(code, "3");
    free(st);
    free(code);
    char ev[16];
    pt_events(sub, cid, ev, sizeof ev);
    assert_string_equal(ev, "CSX");
    pod_events_unsubscribe(t->pm, sub);
    free(cid);
    free(sid);
}

static void exit_zero_is_completed(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_exit(cid, 0);
    char *reason = pt_reason(t, cid);
    assert_string_equal(reason, "Completed");
    free(reason);
    free(cid);
    free(sid);
}

static void start_twice_is_refused(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, cid));
    assert_non_null(strstr(err.msg, "not in the created state"));
    assert_int_equal(fake_calls("hcs_start", cid), 1);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    /* Exited: still refused, never restarted. */
    fake_exit(cid, 0);
    wc_err_clear(&err);
    assert_int_equal(pod_container_start(t->pm, cid, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_int_equal(fake_calls("hcs_start", cid), 1);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    free(cid);
    free(sid);
}

static void stop_of_exited_or_created_sends_nothing(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *created = pt_create(t, sid, "idle");
    char *exited = pt_create_started(t, sid, "done");
    fake_exit(exited, 0);
    wc_err err = {0};
    assert_int_equal(pod_container_stop(t->pm, exited, 10, &err), 0);
    assert_int_equal(pod_container_stop(t->pm, created, 10, &err), 0);
    assert_int_equal(fake_calls("hcs_kill", NULL), 0);
    assert_int_equal(pt_state(t, exited), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, exited), 0);
    assert_int_equal(pt_state(t, created), POD_CONTAINER_CREATED);
    /* Unknown: nothing to stop, not an error (StopContainer is idempotent). */
    assert_int_equal(pod_container_stop(t->pm, "nosuchcontainer", 10, &err), 0);
    assert_int_equal(err.code, WC_OK);
    free(created);
    free(exited);
    free(sid);
}

static void stop_without_grace_kills(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    wc_err err = {0};
    assert_int_equal(pod_container_stop(t->pm, cid, 0, &err), 0);
    assert_int_equal(fake_calls("hcs_kill", cid), 1);
    assert_int_equal(fake_last_arg("hcs_kill", cid), 9);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, cid), 137);
    /* Its last output is waited for, and the intent is cleared. */
    assert_int_equal(fake_calls("pod_platform_stdio_drain", cid), 1);
    char *intent = pt_db_text(t, "containers", cid, "intent");
    assert_string_equal(intent, "");
    free(intent);
    free(cid);
    free(sid);
}

static void stop_sends_the_stop_signal_first(void **state)
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
    assert_int_equal(pod_container_stop(t->pm, cid, 30, &err), 0);
    /* It ended on SIGINT: no SIGKILL followed. */
    assert_int_equal(fake_calls("hcs_kill", cid), 1);
    assert_int_equal(fake_last_arg("hcs_kill", cid), 2);
    assert_int_equal(pt_exit_code(t, cid), 130);
    free(cid);
    free(sid);
}

static void stop_kills_after_the_grace_period(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_ignore_soft_signals(1);
    int64_t t0 = wc_clock_monotonic_ns();
    wc_err err = {0};
    assert_int_equal(pod_container_stop(t->pm, cid, 1, &err), 0);
    int64_t took = wc_clock_monotonic_ns() - t0;
    assert_true(took >= 1000000000LL);
    assert_true(took < 5000000000LL);
    assert_int_equal(fake_calls("hcs_kill", cid), 2);
    int term = fake_call_index("hcs_kill", cid, 0);
    assert_int_equal(fake_last_arg("hcs_kill", cid), 9);
    assert_true(term < fake_call_index("hcs_kill", cid, term + 1));
    assert_int_equal(pt_exit_code(t, cid), 137);
    free(cid);
    free(sid);
}

typedef struct later_exit {
    const char *id;
    int ms;
} later_exit;

static void *exit_later(void *arg)
{
    later_exit *l = arg;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = l->ms * 1000000L};
    nanosleep(&ts, NULL);
    fake_exit(l->id, 0);
    return NULL;
}

static void stop_returns_when_the_container_exits_within_its_grace(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_ignore_soft_signals(1);
    later_exit l = {cid, 50};
    pthread_t th;
    pthread_create(&th, NULL, exit_later, &l);
    int64_t t0 = wc_clock_monotonic_ns();
    wc_err err = {0};
    assert_int_equal(pod_container_stop(t->pm, cid, 30, &err), 0);
    assert_true(wc_clock_monotonic_ns() - t0 < 5000000000LL);
    pthread_join(th, NULL);
    assert_int_equal(fake_calls("hcs_kill", cid), 1); /* SIGTERM only */
    assert_int_equal(fake_last_arg("hcs_kill", cid), 15);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, cid), 0);
    free(cid);
    free(sid);
}

typedef struct late_report {
    podtest *t;
    const char *id;
} late_report;

/* The backend's report of an exit that already happened, 50 ms late. */
static void *report_late(void *arg)
{
    late_report *l = arg;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
    nanosleep(&ts, NULL);
    wc_err err = {0};
    pod_container *c = pod_container_find(l->t->pm, l->id, &err);
    if (c) {
        pod_container_mark_exited(l->t->pm, c, 1, 0, 0, 0);
        pod_container_unref(l->t->pm, c);
    }
    return NULL;
}

/* It exited on its own just before StopContainer: the kill finds it not running, and the stop
 * waits for the report (which is on its way) instead of failing. */
static void stop_of_a_container_that_just_exited_waits_for_its_report(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_ctr_put(cid, sid, "runc", HCS_STOPPED, 0); /* ended; not reported yet */
    late_report l = {t, cid};
    pthread_t th;
    pthread_create(&th, NULL, report_late, &l);
    int64_t t0 = wc_clock_monotonic_ns();
    wc_err err = {0};
    assert_int_equal(pod_container_stop(t->pm, cid, 0, &err), 0);
    assert_true(wc_clock_monotonic_ns() - t0 < 5000000000LL);
    pthread_join(th, NULL);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, cid), 0);
    free(cid);
    free(sid);
}

static void remove_of_running_kills_it_and_leaves_nothing(void **state)
{
    podtest *t = *state;
    pod_event_sub *sub = pod_events_subscribe(t->pm);
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    wc_err err = {0};
    assert_int_equal(pod_container_remove(t->pm, cid, &err), 0);
    assert_int_equal(fake_last_arg("hcs_kill", cid), 9);
    assert_true(fake_call_index("hcs_kill", cid, 0) < fake_call_index("hcs_delete", cid, 0));
    pt_assert_container_gone(t, cid);
    char ev[16];
    pt_events(sub, cid, ev, sizeof ev);
    assert_string_equal(ev, "CSXD");
    pod_events_unsubscribe(t->pm, sub);
    /* Idempotent. */
    assert_int_equal(pod_container_remove(t->pm, cid, &err), 0);
    /* Its name is free again. */
    char *again = pt_create(t, sid, "app");
    assert_string_not_equal(again, cid);
    free(again);
    free(cid);
    free(sid);
}

static void exit_during_start_is_reported_after_started(void **state)
{
    podtest *t = *state;
    pod_event_sub *sub = pod_events_subscribe(t->pm);
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    fake_exit_during("hcs_start", 7); /* a command that ends at once, reported at once */
    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    pod_container_info *i = NULL;
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), 0);
    assert_int_equal(i->state, POD_CONTAINER_EXITED);
    assert_int_equal(i->exit_code, 7);
    assert_string_equal(i->reason, "Error");
    assert_true(i->started_ns > 0);
    assert_true(i->finished_ns >= i->started_ns);
    pod_container_info_free(i);
    char ev[16];
    pt_events(sub, cid, ev, sizeof ev);
    assert_string_equal(ev, "CSX");
    pod_events_unsubscribe(t->pm, sub);
    char *st = pt_db_text(t, "containers", cid, "state");
    char *intent = pt_db_text(t, "containers", cid, "intent");
    assert_string_equal(st, "2");
    assert_string_equal(intent, "");
    free(st);
    free(intent);
    free(cid);
    free(sid);
}

static void exit_right_after_start_is_kept(void **state)
{
    podtest *t = *state;
    pod_event_sub *sub = pod_events_subscribe(t->pm);
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    fake_exit_during("hcs_start", 0); /* right after the runtime started it, before the record */
    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(pt_exit_code(t, cid), 0);
    char ev[16];
    pt_events(sub, cid, ev, sizeof ev);
    assert_string_equal(ev, "CSX");
    pod_events_unsubscribe(t->pm, sub);
    free(cid);
    free(sid);
}

/* Exits are reported twice on Linux (the backend's reaper and the stdio keeper): the second
 * changes nothing, except that a known code replaces an unknown one; STOPPED goes out once. */
static void second_exit_report_only_improves_an_unknown_code(void **state)
{
    podtest *t = *state;
    pod_event_sub *sub = pod_events_subscribe(t->pm);
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_exit(cid, 255); /* the backend could not see the status */
    char *reason = pt_reason(t, cid);
    assert_string_equal(reason, "Unknown");
    free(reason);
    wc_err err = {0};
    pod_container *c = pod_container_find(t->pm, cid, &err);
    assert_non_null(c);
    pod_container_mark_exited(t->pm, c, 1, 3, 0, 0); /* the keeper saw it */
    assert_int_equal(pt_exit_code(t, cid), 3);
    reason = pt_reason(t, cid);
    assert_string_equal(reason, "Error");
    free(reason);
    pod_container_mark_exited(t->pm, c, 1, 9, 0, 0); /* a known code stays */
    pod_container_mark_exited(t->pm, c, 0, 255, 0, 0);
    pod_container_unref(t->pm, c);
    assert_int_equal(pt_exit_code(t, cid), 3);
    char *code = pt_db_text(t, "containers", cid, "exit_code");
    assert_string_equal(code, "3");
    free(code);
    char ev[16];
    pt_events(sub, cid, ev, sizeof ev);
    assert_string_equal(ev, "CSX");
    pod_events_unsubscribe(t->pm, sub);
    free(cid);
    free(sid);
}

/* The keeper's report may come first without knowing of the OOM kill the reaper's then says:
 * the reason becomes OOMKilled, the code stays, STOPPED goes out once. */
static void later_report_of_an_oom_kill_sets_the_reason(void **state)
{
    podtest *t = *state;
    pod_event_sub *sub = pod_events_subscribe(t->pm);
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    wc_err err = {0};
    pod_container *c = pod_container_find(t->pm, cid, &err);
    assert_non_null(c);
    pod_container_mark_exited(t->pm, c, 1, 137, 0, 0); /* the keeper's */
    char *reason = pt_reason(t, cid);
    assert_string_equal(reason, "Error");
    free(reason);
    pod_container_mark_exited(t->pm, c, 1, 9, 0, 1); /* the reaper's, with the cgroup's count */
    pod_container_unref(t->pm, c);
    reason = pt_reason(t, cid);
    assert_string_equal(reason, "OOMKilled");
    free(reason);
    assert_int_equal(pt_exit_code(t, cid), 137);
    char ev[16];
    pt_events(sub, cid, ev, sizeof ev);
    assert_string_equal(ev, "CSX");
    pod_events_unsubscribe(t->pm, sub);
    free(cid);
    free(sid);
}

/* The keeper's report can be on its way (holding the container) while RemoveContainer deletes
 * the record: it must not write the record back, or the removed container comes back as a ghost
 * at the next start. */
static void exit_report_after_removal_does_not_bring_the_record_back(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_exit(cid, 255);
    wc_err err = {0};
    pod_container *c = pod_container_find(t->pm, cid, &err); /* the report, on its way */
    assert_non_null(c);
    assert_int_equal(pod_container_remove(t->pm, cid, &err), 0);
    pod_container_mark_exited(t->pm, c, 1, 0, 0, 0); /* it arrives */
    pod_container_unref(t->pm, c);
    assert_int_equal(pt_db_count(t, "containers", cid), 0);
    pt_reopen(t);
    assert_int_equal(pt_n_containers(t), 0);
    free(cid);
    free(sid);
}

static void failed_start_is_a_start_error(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    fake_fail("hcs_start", 1, WC_INTERNAL);
    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "StartContainer %.12s: ", cid);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    pod_container_info *i = NULL;
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), 0);
    assert_int_equal(i->state, POD_CONTAINER_EXITED);
    assert_int_equal(i->exit_code, 128);
    assert_string_equal(i->reason, "StartError");
    assert_string_equal(i->message, "hcs_start: injected failure");
    pod_container_info_free(i);
    char *intent = pt_db_text(t, "containers", cid, "intent");
    assert_string_equal(intent, "");
    free(intent);
    assert_int_equal(pod_container_remove(t->pm, cid, &err), 0);
    pt_assert_container_gone(t, cid);
    free(cid);
    free(sid);
}

static void start_whose_stdio_fails_stays_created(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    fake_fail("pod_platform_stdio_begin", 1, WC_UNAVAILABLE);
    wc_err err = {0};
    assert_int_equal(pod_container_start(t->pm, cid, &err), -1);
    assert_int_equal(err.code, WC_UNAVAILABLE);
    assert_int_equal(fake_calls("hcs_start", cid), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_CREATED);
    char *intent = pt_db_text(t, "containers", cid, "intent");
    assert_string_equal(intent, "");
    free(intent);
    /* Retried, it starts. */
    wc_err_clear(&err);
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    free(cid);
    free(sid);
}

static void stop_pod_stops_its_containers_and_network(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *netns = netns_of(sid);
    char *a = pt_create_started(t, sid, "a");
    char *b = pt_create(t, sid, "b");
    wc_err err = {0};
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), 0);
    assert_false(pt_sandbox_ready(t, sid));
    assert_int_equal(pt_state(t, a), POD_CONTAINER_EXITED);
    assert_int_equal(pt_state(t, b), POD_CONTAINER_CREATED);
    assert_false(fake_netns_exists(netns));
    assert_false(fake_netns_attached(netns));
    assert_false(fake_sandbox_set_up(sid));
    /* CNI DEL before the namespace goes. */
    assert_true(fake_call_index("hns_detach", sid, 0) <
                fake_call_index("hns_netns_remove", sid, 0));
    char *intent = pt_db_text(t, "sandboxes", sid, "intent");
    char *st = pt_db_text(t, "sandboxes", sid, "state");
    assert_string_equal(intent, "");
    assert_string_equal(st, "1");
    free(intent);
    free(st);
    /* A stopped pod takes no new container and starts none. */
    pod_container_config *c = pt_container_config("late", 0);
    char *late = NULL;
    assert_int_equal(pod_container_create(t->pm, sid, c, &late, &err), -1);
    pod_container_config_unref(c);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, sid));
    assert_non_null(strstr(err.msg, "not ready"));
    wc_err_clear(&err);
    assert_int_equal(pod_container_start(t->pm, b, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, "not ready"));
    assert_int_equal(fake_calls("hcs_start", b), 0);
    /* Stopping again changes nothing. */
    int dels = fake_calls("hns_detach", NULL);
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), 0);
    assert_int_equal(fake_calls("hns_detach", NULL), dels);
    assert_int_equal(pod_sandbox_stop(t->pm, "nosuchpod", &err), 0);
    free(netns);
    free(a);
    free(b);
    free(sid);
}

static void remove_pod_removes_everything(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *a = pt_create_started(t, sid, "a");
    char *b = pt_create(t, sid, "b");
    char *other = pt_run_pod(t, "other");
    char *c = pt_create_started(t, other, "c");
    wc_err err = {0};
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), 0);
    pt_assert_container_gone(t, a);
    pt_assert_container_gone(t, b);
    pt_assert_sandbox_gone(t, sid);
    /* The other pod is untouched. */
    assert_int_equal(pt_state(t, c), POD_CONTAINER_RUNNING);
    assert_true(pt_sandbox_ready(t, other));
    assert_int_equal(pt_n_sandboxes(t), 1);
    assert_int_equal(pt_n_containers(t), 1);
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), 0); /* idempotent */
    char *again = pt_run_pod(t, "web");                        /* the name is free */
    free(again);
    free(a);
    free(b);
    free(c);
    free(other);
    free(sid);
}

static void exec_sync_runs_only_in_running_containers(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    const char *cmd[] = {"echo", "hi"};
    pod_exec_result r;
    wc_err err = {0};
    assert_int_equal(pod_container_exec_sync(t->pm, cid, cmd, 2, 0, &r, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, cid));
    assert_int_equal(fake_calls("hcs_exec_sync", NULL), 0);
    wc_err_clear(&err);
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    assert_int_equal(pod_container_exec_sync(t->pm, cid, cmd, 2, 0, &r, &err), 0);
    assert_int_equal(r.out_len, 7);
    assert_memory_equal(r.out, "echo hi", 7);
    pod_exec_result_clear(&r);
    free(cid);
    free(sid);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, pt_setup, pt_teardown)
    const struct CMUnitTest tests[] = {
        T(run_pod_sets_up_network_namespaces_files_and_record),
        T(host_network_pod_gets_no_namespace),
        T(pod_runs_on_the_handler_it_names),
        T(container_goes_created_running_exited),
        T(exit_zero_is_completed),
        T(start_twice_is_refused),
        T(stop_of_exited_or_created_sends_nothing),
        T(stop_without_grace_kills),
        T(stop_sends_the_stop_signal_first),
        T(stop_kills_after_the_grace_period),
        T(stop_returns_when_the_container_exits_within_its_grace),
        T(stop_of_a_container_that_just_exited_waits_for_its_report),
        T(remove_of_running_kills_it_and_leaves_nothing),
        T(exit_during_start_is_reported_after_started),
        T(exit_right_after_start_is_kept),
        T(second_exit_report_only_improves_an_unknown_code),
        T(later_report_of_an_oom_kill_sets_the_reason),
        T(exit_report_after_removal_does_not_bring_the_record_back),
        T(failed_start_is_a_start_error),
        T(start_whose_stdio_fails_stays_created),
        T(stop_pod_stops_its_containers_and_network),
        T(remove_pod_removes_everything),
        T(exec_sync_runs_only_in_running_containers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
