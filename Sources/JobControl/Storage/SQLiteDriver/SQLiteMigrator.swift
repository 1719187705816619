/// Named, append-only schema migrations, each applied once in its own transaction and recorded
/// in `grdb_migrations`: the table GRDB's migrator kept, so databases written before the daemon
/// dropped GRDB (issue 19) upgrade from where they are. Identifiers the list does not know (a
/// newer daemon's) are left alone.
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
                try db.inTransaction(immediate: true) { db in
                    try migration.run(db)
                    try db.execute(
                        sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [migration.identifier])
                }
            }
        }
    }
}
