// libpq, PostgreSQL's own client library (Debian: libpq-dev).
#include <libpq-fe.h>
