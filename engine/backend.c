/* Picks a denoiser backend by name; the CUDA one exists only in CUDA builds. */
#include "engine/engine.h"

#include <string.h>

#ifndef DLLM_CUDA
const struct backend *backend_cuda(void)
{
    return NULL;
}
#endif

const struct backend *backend_by_name(const char *name)
{
    if (!name || strcmp(name, "cpu") == 0)
        return backend_cpu();
    if (strcmp(name, "cuda") == 0)
        return backend_cuda();
    return NULL;
}
