// SQLite (Debian's libsqlite3-dev): the embedded database behind SQLiteStorage (Storage/SQLiteDriver).
#include <sqlite3.h>
