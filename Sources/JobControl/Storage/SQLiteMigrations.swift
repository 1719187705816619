/// The SQLite schema, as named, append-only migrations. A migration that has shipped is never
/// edited: add a new one. Timestamps are REAL seconds since 1970 (UTC); JSON columns hold text.
/// `Tests/JobControlTests/Fixtures/schema-v1.sqlite3` is a database written by v1; a test upgrades it.
enum SQLiteMigrations {
    static var migrator: SQLiteMigrator {
        var migrator = SQLiteMigrator()
        migrator.registerMigration("v1-build-progress-log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE build (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        job_id TEXT NOT NULL,
                        start_time REAL,
                        end_time REAL,
                        started BOOLEAN NOT NULL DEFAULT 0,
                        finished BOOLEAN NOT NULL DEFAULT 0,
                        success BOOLEAN NOT NULL DEFAULT 0,
                        skipped BOOLEAN NOT NULL DEFAULT 0,
                        config TEXT NOT NULL,
                        retval TEXT,
                        exception TEXT,
                        exception_tb TEXT
                    );
                    CREATE INDEX build_job_id ON build (job_id, id);
                    CREATE INDEX build_unfinished ON build (finished) WHERE finished = 0;

                    CREATE TABLE build_progress (
                        build_id INTEGER NOT NULL REFERENCES build (id) ON DELETE CASCADE,
                        group_name VARCHAR(128) NOT NULL DEFAULT '',
                        current INTEGER NOT NULL,
                        total INTEGER NOT NULL,
                        status_line TEXT,
                        UNIQUE (build_id, group_name)
                    );

                    CREATE TABLE log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        build_id INTEGER REFERENCES build (id) ON DELETE CASCADE,
                        created REAL NOT NULL,
                        level INTEGER NOT NULL,
                        record TEXT NOT NULL,
                        exception_tb TEXT
                    );
                    CREATE INDEX log_build_id ON log (build_id, id);
                    CREATE INDEX log_created ON log (created);
                    """)
        }
        migrator.registerMigration("v2-latest-successful-index") { db in
            // get_latest_successful_build runs for every dependency of every build.
            try db.execute(
                sql: """
                    CREATE INDEX build_job_success ON build (job_id, id)
                        WHERE finished = 1 AND success = 1 AND skipped = 0;
                    """)
        }
        migrator.registerMigration("v3-schedule") { db in
            // One row per scheduled occurrence a daemon acted on; the primary key makes an
            // occurrence run at most once. `due` is in microseconds (exact, unlike REAL).
            try db.execute(
                sql: """
                    CREATE TABLE occurrence (
                        job_id TEXT NOT NULL,
                        due INTEGER NOT NULL,
                        outcome TEXT NOT NULL,
                        build_id INTEGER,
                        recorded REAL NOT NULL,
                        detail TEXT,
                        PRIMARY KEY (job_id, due)
                    ) WITHOUT ROWID;
                    CREATE TABLE job_state (
                        job_id TEXT PRIMARY KEY,
                        suspended BOOLEAN NOT NULL DEFAULT 0,
                        changed REAL NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v4-build-process") { db in
            // Where a build's command runs, so orphans can be found after a crash.
            try db.execute(sql: "ALTER TABLE build ADD COLUMN process_group INTEGER")
            try db.execute(sql: "ALTER TABLE build ADD COLUMN process_start INTEGER")
        }
        migrator.registerMigration("v5-build-containment") { db in
            // The build's cgroup directories (crash recovery), and what it used (JSON).
            try db.execute(sql: "ALTER TABLE build ADD COLUMN cgroup TEXT")
            try db.execute(sql: "ALTER TABLE build ADD COLUMN usage TEXT")
        }
        migrator.registerMigration("v6-notifications") { db in
            // The outbox (docs/notifications.md): notifications written with the state change that
            // caused them, each attempt to deliver one, and what the rules remember per job.
            try db.execute(
                sql: """
                    CREATE TABLE notification (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        channel TEXT NOT NULL,
                        event TEXT NOT NULL,
                        job_id TEXT,
                        build_id INTEGER,
                        payload TEXT NOT NULL,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        created REAL NOT NULL,
                        next_attempt REAL NOT NULL,
                        delivered REAL,
                        node TEXT,
                        last_error TEXT
                    );
                    CREATE INDEX notification_due ON notification (state, next_attempt);
                    CREATE INDEX notification_job ON notification (job_id, id);
                    CREATE TABLE notification_attempt (
                        notification_id INTEGER NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
                        number INTEGER NOT NULL,
                        node TEXT NOT NULL,
                        started REAL NOT NULL,
                        ended REAL,
                        outcome TEXT NOT NULL,
                        detail TEXT,
                        PRIMARY KEY (notification_id, number)
                    ) WITHOUT ROWID;
                    CREATE TABLE notify_state (
                        job_id TEXT PRIMARY KEY,
                        state TEXT NOT NULL
                    );
                    """)
        }
        return migrator
    }

    /// Every table the migrations create, children first (for uninstall).
    static let tables = [
        "notification_attempt", "notification", "notify_state", "occurrence", "job_state", "build_progress", "log",
        "build", "grdb_migrations",
    ]
}
