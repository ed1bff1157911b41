/* Cancellation of a pull: the caller's cancel callback, its deadline, and sibling workers
 * that have already failed. Apart from the registry client, so that a test double of the
 * client (tests/fuzz) shares it. */
#include "image/img_internal.h"

#include <stdint.h>

#include "common/clock.h"

int img_cancel_check(const img_cancel *c, wc_err *err)
{
    if (!c)
        return 0;
    if (c->abort_flag && *c->abort_flag)
        return wc_err_set(err, WC_ABORTED, "abandoned because another part of the pull failed");
    if (c->deadline_ns > 0 && c->deadline_ns != INT64_MAX &&
        wc_clock_monotonic_ns() > c->deadline_ns)
        return wc_err_set(err, WC_DEADLINE_EXCEEDED, "deadline exceeded");
    if (c->fn && c->fn(c->ctx))
        return wc_err_set(err, WC_CANCELLED, "cancelled by the client");
    return 0;
}
