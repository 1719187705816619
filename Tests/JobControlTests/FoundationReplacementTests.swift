import Foundation
import Testing

@testable import JobControl

/// The pieces that replaced full Foundation in the daemon (issue 19), and the SQLite driver that
/// replaced GRDB, where they could behave differently from what they replaced.
@Suite struct FoundationReplacementTests {
    @Test func secretsAreMaskedAsBytesEvenInsideALargerCharacter() {
        let redactor = SecretRedactor(["hunter2", "pa\r"])
        // A combining accent after the secret makes "2́" one character; the secret is still there.
        #expect(redactor.redact("password hunter2\u{301} end") == "password ***\u{301} end")
        #expect(redactor.redact("line pa\r\n") == "line ***\n")
        #expect(redactor.redact("nothing here") == "nothing here")
        #expect(redactor.redact("hunter2hunter2") == "******")
        #expect(SecretRedactor(["ab", "abc"]).redact("xabcx") == "x***x")
    }

    @Test func pathPartsAreNSStringsOnes() {
        for (path, parent, last) in [
            ("/a/b", "/a", "b"), ("/a", "/", "a"), ("a", "", "a"), ("/a/b/", "/a", "b"), ("/", "/", "/"),
            ("/var/lib/jobcontrol/db.sqlite3", "/var/lib/jobcontrol", "db.sqlite3"), ("a/b", "a", "b"),
        ] {
            #expect(path.parentPath == parent, "\(path)")
            #expect(path.lastPathComponentText == last, "\(path)")
        }
    }

    @Test func decimalsAndPercentEncoding() {
        #expect(12.34.decimalText(places: 1) == "12.3")
        #expect(0.5.decimalText(places: 2) == "0.50")
        #expect((-1.25).decimalText(places: 1) == "-1.3")
        #expect(3.0.decimalText(places: 0) == "3")
        #expect("a b/é~".percentEncoded == "a%20b%2F%C3%A9~")
        #expect("a%20b%2F%C3%A9~".percentDecoded == "a b/é~")
        #expect("100%".percentDecoded == nil)
        #expect("%FF".percentDecoded == nil)
    }

    @Test func aCheckThatClosesItsOutputAndHangsStillTimesOut() throws {
        let started = ContinuousClock.now
        let hung = try ProcessSpawner.runToEnd(
            argv: ["/bin/sh", "-c", "exec >&- 2>&-; sleep 30"], environment: ["PATH": "/usr/bin:/bin"],
            timeout: .milliseconds(300))
        #expect(hung.timedOut)
        #expect(ContinuousClock.now - started < .seconds(10))
        let said = try ProcessSpawner.runToEnd(
            argv: ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], environment: ["PATH": "/usr/bin:/bin"],
            timeout: .seconds(30))
        #expect(!said.timedOut)
        #expect(said.status == 3)
        #expect(String(decoding: said.output, as: UTF8.self).contains("out"))
        #expect(String(decoding: said.output, as: UTF8.self).contains("err"))
    }

    @Test func aMigrationThatRebuildsATableCascadesNothing() throws {
        let database = try SQLiteDatabase(path: nil, busyTimeout: 1)
        var migrator = SQLiteMigrator()
        migrator.registerMigration("one") { db in
            try db.execute(
                sql: """
                    CREATE TABLE parent (id INTEGER PRIMARY KEY);
                    CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);
                    INSERT INTO parent VALUES (1);
                    INSERT INTO child VALUES (1);
                    """)
        }
        migrator.registerMigration("rebuild") { db in
            try db.execute(
                sql: """
                    CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);
                    INSERT INTO parent_new (id) SELECT id FROM parent;
                    DROP TABLE parent;
                    ALTER TABLE parent_new RENAME TO parent;
                    """)
        }
        try migrator.migrate(database)
        #expect(try database.read { try $0.fetchValue(Int.self, sql: "SELECT count(*) FROM child") } == 1)
        #expect(try database.read { try $0.fetchValue(Bool.self, sql: "PRAGMA foreign_keys") } == true)
        // A migration that leaves a broken reference is not committed.
        var broken = migrator
        broken.registerMigration("break") { db in try db.execute(sql: "DELETE FROM parent") }
        #expect(throws: SQLiteError.self) { try broken.migrate(database) }
        #expect(try database.read { try $0.fetchValue(Int.self, sql: "SELECT count(*) FROM parent") } == 1)
        let applied = try database.read {
            try $0.fetchColumn(String.self, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        }
        #expect(applied == ["one", "rebuild"])
    }

    @Test func theDriverRefusesWhatGRDBRefused() throws {
        let database = try SQLiteDatabase(path: nil, busyTimeout: 1)
        try database.write { db in try db.execute(sql: "CREATE TABLE t (a TEXT, b INTEGER)") }
        // A placeholder without an argument is an error, not a NULL.
        #expect(throws: SQLiteError.self) {
            try database.write { db in try db.execute(sql: "INSERT INTO t (a) VALUES (?)") }
        }
        try database.write { db in try db.execute(sql: "INSERT INTO t VALUES (?, ?)", arguments: ["", 7]) }
        let row = try #require(try database.read { try $0.fetchOne(sql: "SELECT a, b, b AS c FROM t") })
        #expect((row["a"] as String?) == "")  // an empty string, not NULL
        #expect((row["c"] as String?) == "7")  // a number read as text, as GRDB did
        // A failed write rolls back and leaves the writer usable.
        #expect(throws: (any Error).self) {
            try database.write { db in
                try db.execute(sql: "INSERT INTO t VALUES ('x', 1)")
                try db.execute(sql: "INSERT INTO nowhere VALUES (1)")
            }
        }
        #expect(try database.read { try $0.fetchValue(Int.self, sql: "SELECT count(*) FROM t") } == 1)
    }
}
