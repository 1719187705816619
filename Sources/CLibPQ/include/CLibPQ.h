// libpq, PostgreSQL's own client library, loaded at run time (see libpq_loader.c): its
// declarations come from libpq's header (Debian: libpq-dev) as usual, but nothing links
// against it, so daemons on SQLite and jobctl never load libpq and the ~25 libraries it needs.
#ifndef JOBCONTROL_CLIBPQ_H
#define JOBCONTROL_CLIBPQ_H

#include <postgresql/libpq-fe.h>

/// Loads libpq.so.5 once (thread-safe). Returns NULL when it is loaded, else why it is not.
const char *jobcontrol_libpq_load(void);

#endif
