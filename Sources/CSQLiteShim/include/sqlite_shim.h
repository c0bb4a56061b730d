// What Swift cannot call in SQLite's C API directly.
//
// sqlite3_bind_text wants SQLITE_TRANSIENT (a destructor pointer cast from -1, a macro Swift
// cannot import) to copy the text before the call returns; the caller's buffer is gone after.
#ifndef CAH_SQLITE_SHIM_H
#define CAH_SQLITE_SHIM_H

#include <sqlite3.h>

/// Binds `length` bytes of UTF-8 at `text` to parameter `index` (from 1), copied by SQLite.
int cah_sqlite_bind_text(sqlite3_stmt *statement, int index, const char *text, int length);

#endif
