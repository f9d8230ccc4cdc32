/* The master process: listeners, workers, supervision and signals. */
#ifndef PORTICO_MASTER_H
#define PORTICO_MASTER_H

#include "portico/settings.h"

/* Binds, forks the workers and supervises them until told to stop; SIGHUP builds
 * the settings again from src. Start-up failures print one line and return 1; a
 * clean stop returns 0. */
int master_run(struct settings *s, const struct config_source *src);
/* -t: checks what start-up would (certificates, user), prints the verdict; 0 or 1. */
int master_check(struct settings *s);

#endif
