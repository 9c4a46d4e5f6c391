/* placeholder until the model loaders land: replaced, not kept */
#include "engine/engine.h"
#include <stdio.h>
int model_open(const char *path, struct model **out, char *err, size_t errlen) { (void)out; snprintf(err, errlen, "%s: loaders not built yet", path); return -1; }
