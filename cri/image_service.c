#include "cri/server.h"

/* ImageService handlers; an RPC without an entry answers UNIMPLEMENTED. */
const cri_method cri_image_methods[] = {
    {NULL, NULL, NULL},
};
