/* placeholder until the CPU engine lands: replaced, not kept */
#include "engine/engine.h"
const struct backend *backend_cpu(void) { return 0; }
