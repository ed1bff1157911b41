/* The parts of runtime.h that are the same on every platform. */
#include "hcs/runtime.h"

#include <stdlib.h>
#include <string.h>

void hcs_exec_result_clear(hcs_exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}
