/* Names (podsandbox/manager.c pod_name_reserve): a pod's (namespace, name, attempt) and a
 * container's (pod, name, attempt) belong to one record from before any work until it is
 * removed. A second RunPodSandbox or CreateContainer for a taken name is ALREADY_EXISTS naming the
 * holder and touches nothing; of concurrent ones exactly one wins. */
#include "tests/unit/podtest.h"

#include <string.h>
#include <time.h>

static void same_pod_twice_names_the_existing_one(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    fake_log_clear();
    pod_sandbox_config *c = pt_sandbox_config("web", 0);
    char *other = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_run(t->pm, c, "", &other, &err), -1);
    assert_null(other);
    assert_int_equal(err.code, WC_ALREADY_EXISTS);
    assert_non_null(strstr(err.msg, "default/web (attempt 0)"));
    assert_non_null(strstr(err.msg, sid));
    /* Refused before any work. */
    assert_string_equal(fake_log_text(), "");
    assert_int_equal(pt_db_count(t, "sandboxes", NULL), 1);
    /* Another attempt is another pod. */
    pod_sandbox_config_unref(c);
    c = pt_sandbox_config("web", 1);
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_run(t->pm, c, "", &other, &err), 0);
    assert_string_not_equal(other, sid);
    pod_sandbox_config_unref(c);
    free(other);
    free(sid);
}

static void same_container_twice_names_the_existing_one(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    fake_log_clear();
    pod_container_config *c = pt_container_config("app", 0);
    char *other = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_create(t->pm, sid, c, &other, &err), -1);
    assert_null(other);
    assert_int_equal(err.code, WC_ALREADY_EXISTS);
    assert_non_null(strstr(err.msg, "container app (attempt 0)"));
    assert_non_null(strstr(err.msg, cid));
    assert_string_equal(fake_log_text(), "");
    assert_int_equal(pt_db_count(t, "containers", NULL), 1);
    /* The same name in another pod, or another attempt, is another container. */
    char *sid2 = pt_run_pod(t, "db");
    wc_err_clear(&err);
    assert_int_equal(pod_container_create(t->pm, sid2, c, &other, &err), 0);
    free(other);
    pod_container_config_unref(c);
    c = pt_container_config("app", 1);
    assert_int_equal(pod_container_create(t->pm, sid, c, &other, &err), 0);
    free(other);
    pod_container_config_unref(c);
    free(sid2);
    free(cid);
    free(sid);
}

/* Names look alike only when they are the same: no separator can be forged. */
static void names_with_separators_do_not_collide(void **state)
{
    podtest *t = *state;
    json_t *a = json_pack("{s:s,s:s,s:s}", "name", "a b", "namespace", "c", "uid", "u");
    json_t *b = json_pack("{s:s,s:s,s:s}", "name", "a", "namespace", "b c", "uid", "u");
    pod_sandbox_config *ca = NULL, *cb = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_config_from_json(a, &ca, &err), 0);
    assert_int_equal(pod_sandbox_config_from_json(b, &cb, &err), 0);
    char *ia = NULL, *ib = NULL;
    assert_int_equal(pod_sandbox_run(t->pm, ca, "", &ia, &err), 0);
    assert_int_equal(pod_sandbox_run(t->pm, cb, "", &ib, &err), 0);
    json_decref(a);
    json_decref(b);
    pod_sandbox_config_unref(ca);
    pod_sandbox_config_unref(cb);
    free(ia);
    free(ib);
}

static void names_are_free_again_after_removal(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    wc_err err = {0};
    assert_int_equal(pod_container_remove(t->pm, cid, &err), 0);
    char *cid2 = pt_create(t, sid, "app");
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), 0);
    char *sid2 = pt_run_pod(t, "web");
    char *cid3 = pt_create(t, sid2, "app");
    free(cid3);
    free(sid2);
    free(cid2);
    free(cid);
    free(sid);
}

/* A stopped pod still holds its name until it is removed (kubelet removes before retrying). */
static void stopped_pod_keeps_its_name(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    wc_err err = {0};
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), 0);
    pod_sandbox_config *c = pt_sandbox_config("web", 0);
    char *other = NULL;
    assert_int_equal(pod_sandbox_run(t->pm, c, "", &other, &err), -1);
    assert_int_equal(err.code, WC_ALREADY_EXISTS);
    assert_non_null(strstr(err.msg, sid));
    pod_sandbox_config_unref(c);
    free(sid);
}

static void names_are_held_across_a_restart(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    pt_reopen(t);
    pod_sandbox_config *sc = pt_sandbox_config("web", 0);
    pod_container_config *cc = pt_container_config("app", 0);
    char *other = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_run(t->pm, sc, "", &other, &err), -1);
    assert_int_equal(err.code, WC_ALREADY_EXISTS);
    assert_non_null(strstr(err.msg, sid));
    wc_err_clear(&err);
    assert_int_equal(pod_container_create(t->pm, sid, cc, &other, &err), -1);
    assert_int_equal(err.code, WC_ALREADY_EXISTS);
    assert_non_null(strstr(err.msg, cid));
    pod_sandbox_config_unref(sc);
    pod_container_config_unref(cc);
    free(cid);
    free(sid);
}

/* ---- concurrent duplicates ---- */

#define RACERS 8

typedef struct racer {
    podtest *t;
    pthread_barrier_t *go;
    const char *sandbox_id; /* NULL: RunPodSandbox */
    const char *name;
    char *id;
    wc_err err;
    int rc;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    if (!r->sandbox_id) {
        pod_sandbox_config *c = pt_sandbox_config(r->name, 0);
        r->rc = pod_sandbox_run(r->t->pm, c, "", &r->id, &r->err);
        pod_sandbox_config_unref(c);
    } else {
        pod_container_config *c = pt_container_config(r->name, 0);
        r->rc = pod_container_create(r->t->pm, r->sandbox_id, c, &r->id, &r->err);
        pod_container_config_unref(c);
    }
    return NULL;
}

/* Runs RACERS calls at once (names[i] for racer i) and returns how many succeeded. */
static int run_race(podtest *t, const char *sandbox_id, const char *const *names, racer *rs)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (racer){.t = t, .go = &go, .sandbox_id = sandbox_id, .name = names[i]};
        pthread_create(&th[i], NULL, race, &rs[i]);
    }
    int won = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        won += rs[i].rc == 0;
    }
    pthread_barrier_destroy(&go);
    return won;
}

/* Exactly one winner; every loser is ALREADY_EXISTS naming it. */
static void assert_one_winner(racer *rs)
{
    const char *winner = NULL;
    for (int i = 0; i < RACERS; i++)
        if (rs[i].rc == 0)
            winner = rs[i].id;
    assert_non_null(winner);
    for (int i = 0; i < RACERS; i++) {
        if (rs[i].rc == 0) {
            assert_ptr_equal(rs[i].id, winner);
            continue;
        }
        if (rs[i].err.code != WC_ALREADY_EXISTS || !strstr(rs[i].err.msg, winner))
            fail_msg("a loser got %s: %s", wc_code_name(rs[i].err.code), rs[i].err.msg);
        assert_null(rs[i].id);
    }
}

static void concurrent_duplicate_pods_one_wins(void **state)
{
    podtest *t = *state;
    fake_delay("hns_attach", 20); /* the winner is still at work while the others arrive */
    const char *names[RACERS];
    for (int i = 0; i < RACERS; i++)
        names[i] = "web";
    racer rs[RACERS];
    assert_int_equal(run_race(t, NULL, names, rs), 1);
    assert_one_winner(rs);
    assert_int_equal(fake_calls("hns_netns_create", NULL), 1);
    assert_int_equal(fake_netns_count(), 1);
    assert_int_equal(pt_db_count(t, "sandboxes", NULL), 1);
    assert_int_equal(pt_n_sandboxes(t), 1);
    for (int i = 0; i < RACERS; i++)
        free(rs[i].id);
}

static void concurrent_duplicate_containers_one_wins(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    fake_delay("hcs_create", 20);
    const char *names[RACERS];
    for (int i = 0; i < RACERS; i++)
        names[i] = "app";
    racer rs[RACERS];
    assert_int_equal(run_race(t, sid, names, rs), 1);
    assert_one_winner(rs);
    assert_int_equal(fake_calls("hcs_create", NULL), 1);
    assert_int_equal(fake_ctr_count(), 1);
    assert_int_equal(pt_db_count(t, "containers", NULL), 1);
    assert_int_equal(pt_n_containers(t), 1);
    for (int i = 0; i < RACERS; i++)
        free(rs[i].id);
    free(sid);
}

/* Different names at once all succeed: the reservations do not get in each other's way. */
static void concurrent_distinct_names_all_win(void **state)
{
    podtest *t = *state;
    const char *names[RACERS] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    racer pods[RACERS], ctrs[RACERS];
    assert_int_equal(run_race(t, NULL, names, pods), RACERS);
    assert_int_equal(run_race(t, pods[0].id, names, ctrs), RACERS);
    assert_int_equal(pt_n_sandboxes(t), RACERS);
    assert_int_equal(pt_n_containers(t), RACERS);
    for (int i = 0; i < RACERS; i++) {
        free(pods[i].id);
        free(ctrs[i].id);
    }
}

/* CreateContainer racing RemovePodSandbox: once the removal returns, the pod has no container
 * anywhere; a create that lost is refused as the pod is not ready or gone. */
typedef struct remover {
    podtest *t;
    pthread_barrier_t *go;
    const char *sandbox_id;
    int rc;
    wc_err err;
} remover;

static void *remove_pod(void *arg)
{
    remover *r = arg;
    pthread_barrier_wait(r->go);
    r->rc = pod_sandbox_remove(r->t->pm, r->sandbox_id, &r->err);
    return NULL;
}

static void create_racing_pod_removal_leaves_no_container(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    fake_delay("hcs_create", 5);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS + 1);
    racer rs[RACERS];
    static const char *const names[RACERS] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    pthread_t th[RACERS + 1];
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (racer){.t = t, .go = &go, .sandbox_id = sid, .name = names[i]};
        pthread_create(&th[i], NULL, race, &rs[i]);
    }
    remover rm = {.t = t, .go = &go, .sandbox_id = sid};
    pthread_create(&th[RACERS], NULL, remove_pod, &rm);
    for (int i = 0; i <= RACERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    if (rm.rc != 0)
        fail_msg("RemovePodSandbox: %s", rm.err.msg);
    for (int i = 0; i < RACERS; i++) {
        if (rs[i].rc == 0) {
            pt_assert_container_gone(t, rs[i].id);
            free(rs[i].id);
        } else if (rs[i].err.code != WC_FAILED_PRECONDITION && rs[i].err.code != WC_NOT_FOUND) {
            fail_msg("a create got %s: %s", wc_code_name(rs[i].err.code), rs[i].err.msg);
        }
    }
    pt_assert_sandbox_gone(t, sid);
    assert_int_equal(fake_ctr_count(), 0);
    assert_int_equal(pt_db_count(t, "containers", NULL), 0);
    assert_int_equal(pt_n_containers(t), 0);
    free(sid);
}

/* ---- verbs racing RemoveContainer on the same container ----
 * The verb finds the container before the removal takes it out of the index, then waits for its
 * lock until the removal is done: it must find it removed, not act on it (write its record back,
 * or remove it a second time). */

typedef struct verb_call {
    podtest *t;
    const char *id;
    int (*verb)(podtest *t, const char *id, wc_err *err);
    int rc;
    wc_err err;
} verb_call;

static int do_remove(podtest *t, const char *id, wc_err *err)
{
    return pod_container_remove(t->pm, id, err);
}

static int do_start(podtest *t, const char *id, wc_err *err)
{
    return pod_container_start(t->pm, id, err);
}

static int do_update(podtest *t, const char *id, wc_err *err)
{
    pod_linux_resources r = {.set = 1, .cpu_shares = 512};
    r.cpuset_cpus = "";
    r.cpuset_mems = "";
    return pod_container_update_resources(t->pm, id, &r, NULL, err);
}

static void *call_verb(void *arg)
{
    verb_call *v = arg;
    v->rc = v->verb(v->t, v->id, &v->err);
    return NULL;
}

/* Until the removal is inside `call` (where the fake holds it 200 ms), with its lock held and
 * the object still in the index. */
static void wait_for_call(const char *call, const char *id)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000L};
    for (int i = 0; i < 10000 && fake_calls(call, id) == 0; i++)
        nanosleep(&ts, NULL);
    assert_int_equal(fake_calls(call, id), 1);
}

/* Starts a removal that holds the container for 200 ms, runs `verb` on it meanwhile. */
static void race_removal(podtest *t, const char *cid,
                         int (*verb)(podtest *, const char *, wc_err *), verb_call *second)
{
    fake_delay("hcs_delete", 200);
    verb_call first = {.t = t, .id = cid, .verb = do_remove};
    pthread_t th;
    pthread_create(&th, NULL, call_verb, &first);
    wait_for_call("hcs_delete", cid);
    *second = (verb_call){.t = t, .id = cid, .verb = verb};
    call_verb(second);
    pthread_join(th, NULL);
    fake_delay("hcs_delete", 0);
    if (first.rc != 0)
        fail_msg("RemoveContainer: %s", first.err.msg);
}

static void removal_racing_removal_removes_once(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    verb_call second;
    race_removal(t, cid, do_remove, &second);
    assert_int_equal(second.rc, 0); /* idempotent */
    pt_assert_container_gone(t, cid);
    pt_reopen(t);
    assert_int_equal(pt_n_containers(t), 0);
    free(cid);
    free(sid);
}

static void start_racing_removal_finds_it_gone(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    verb_call second;
    race_removal(t, cid, do_start, &second);
    assert_int_equal(second.rc, -1);
    assert_int_equal(second.err.code, WC_NOT_FOUND);
    assert_int_equal(fake_calls("hcs_start", cid), 0);
    pt_assert_container_gone(t, cid);
    pt_reopen(t);
    assert_int_equal(pt_n_containers(t), 0);
    free(cid);
    free(sid);
}

static void update_racing_removal_finds_it_gone(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    verb_call second;
    race_removal(t, cid, do_update, &second);
    assert_int_equal(second.rc, -1);
    assert_int_equal(second.err.code, WC_NOT_FOUND);
    pt_assert_container_gone(t, cid);
    pt_reopen(t);
    assert_int_equal(pt_n_containers(t), 0);
    free(cid);
    free(sid);
}

/* The same for pods: RemovePodSandbox holding the pod (in CNI DEL) while another verb waits. */
static int do_remove_pod(podtest *t, const char *id, wc_err *err)
{
    return pod_sandbox_remove(t->pm, id, err);
}

static int do_stop_pod(podtest *t, const char *id, wc_err *err)
{
    return pod_sandbox_stop(t->pm, id, err);
}

static int do_update_pod(podtest *t, const char *id, wc_err *err)
{
    pod_linux_resources r = {.set = 1, .cpu_shares = 256};
    r.cpuset_cpus = "";
    r.cpuset_mems = "";
    return pod_sandbox_update_resources(t->pm, id, NULL, &r, err);
}

static void race_pod_removal(podtest *t, const char *sid,
                             int (*verb)(podtest *, const char *, wc_err *), verb_call *second)
{
    fake_delay("hns_detach", 200);
    verb_call first = {.t = t, .id = sid, .verb = do_remove_pod};
    pthread_t th;
    pthread_create(&th, NULL, call_verb, &first);
    wait_for_call("hns_detach", sid);
    *second = (verb_call){.t = t, .id = sid, .verb = verb};
    call_verb(second);
    pthread_join(th, NULL);
    fake_delay("hns_detach", 0);
    if (first.rc != 0)
        fail_msg("RemovePodSandbox: %s", first.err.msg);
}

static void pod_verb_racing_pod_removal(podtest *t, int (*verb)(podtest *, const char *, wc_err *),
                                        int want_rc, wc_code want_code)
{
    char *sid = pt_run_pod(t, "web");
    verb_call second;
    race_pod_removal(t, sid, verb, &second);
    if (second.rc != want_rc || second.err.code != want_code)
        fail_msg("the racing call got %d, %s: %s", second.rc, wc_code_name(second.err.code),
                 second.err.msg);
    pt_assert_sandbox_gone(t, sid);
    assert_int_equal(fake_calls("hns_detach", sid), 1);
    pt_reopen(t);
    assert_int_equal(pt_n_sandboxes(t), 0);
    free(sid);
}

static void pod_removal_racing_pod_removal_removes_once(void **state)
{
    pod_verb_racing_pod_removal(*state, do_remove_pod, 0, WC_OK);
}

static void pod_stop_racing_pod_removal_finds_it_gone(void **state)
{
    pod_verb_racing_pod_removal(*state, do_stop_pod, 0, WC_OK);
}

static void pod_update_racing_pod_removal_finds_it_gone(void **state)
{
    pod_verb_racing_pod_removal(*state, do_update_pod, -1, WC_NOT_FOUND);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, pt_setup, pt_teardown)
    const struct CMUnitTest tests[] = {
        T(same_pod_twice_names_the_existing_one),
        T(same_container_twice_names_the_existing_one),
        T(names_with_separators_do_not_collide),
        T(names_are_free_again_after_removal),
        T(stopped_pod_keeps_its_name),
        T(names_are_held_across_a_restart),
        T(concurrent_duplicate_pods_one_wins),
        T(concurrent_duplicate_containers_one_wins),
        T(concurrent_distinct_names_all_win),
        T(create_racing_pod_removal_leaves_no_container),
        T(removal_racing_removal_removes_once),
        T(start_racing_removal_finds_it_gone),
        T(update_racing_removal_finds_it_gone),
        T(pod_removal_racing_pod_removal_removes_once),
        T(pod_stop_racing_pod_removal_finds_it_gone),
        T(pod_update_racing_pod_removal_finds_it_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
