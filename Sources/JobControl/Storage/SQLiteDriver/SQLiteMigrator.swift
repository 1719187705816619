import CSQLite

/// Named, append-only schema migrations, each applied once in its own transaction and recorded
/// in `grdb_migrations`: the table GRDB's migrator kept, so databases written before the daemon
/// dropped GRDB (issue 19) upgrade from where they are. Identifiers the list does not know (a
/// newer daemon's) are left alone. As GRDB's did, a migration runs with foreign keys off (so a
/// table rebuilt the SQLite way, new table, copy, drop, rename, cascades nothing) and is committed
/// only if `PRAGMA foreign_key_check` finds nothing broken.
struct SQLiteMigrator {
    private var migrations: [(identifier: String, run: (SQLiteConnection) throws -> Void)] = []

    mutating func registerMigration(_ identifier: String, _ run: @escaping (SQLiteConnection) throws -> Void) {
        migrations.append((identifier, run))
    }

    var identifiers: [String] { migrations.map(\.identifier) }

    func migrate(_ database: SQLiteDatabase) throws {
        try database.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            let applied = Set(try db.fetchColumn(String.self, sql: "SELECT identifier FROM grdb_migrations"))
            for migration in migrations where !applied.contains(migration.identifier) {
                // Outside a transaction: inside one, SQLite ignores this pragma.
                try db.execute(sql: "PRAGMA foreign_keys = OFF")
                defer { try? db.execute(sql: "PRAGMA foreign_keys = ON") }
                try db.inTransaction(immediate: true) { db in
                    try migration.run(db)
                    if let broken = try db.fetchOne(sql: "PRAGMA foreign_key_check") {
                        throw SQLiteError(
                            code: SQLITE_CONSTRAINT,
                            message:
                                "migration \(migration.identifier) leaves a broken reference in table \((broken["table"] as String?) ?? "?")",
                            sql: "PRAGMA foreign_key_check")
                    }
                    try db.execute(
                        sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [migration.identifier])
                }
            }
        }
    }
}
