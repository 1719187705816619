import Foundation
import Testing

@testable import JobControl

/// `/metrics`' text and the `http:` settings; the scrape by a real Prometheus is in
/// IntegrationTests/MetricsTests.
@Suite struct MetricsExpositionTests {
    @Test func countsAreExposedPerJobWithTheirFamilies() {
        let metrics = DaemonMetrics()
        let end = Date(timeIntervalSince1970: 1_800_000_000)
        metrics.buildFinished(job: "backup", result: "failed", duration: 2, at: end)
        metrics.buildFinished(job: "backup", result: "failed", duration: 3, at: end)
        metrics.buildFinished(job: "odd\"name\\", result: "successful", duration: 0.05, at: end)
        metrics.occurrence(job: "backup", outcome: "missed")
        metrics.logged(lines: 3, bytes: 42)
        metrics.committed(seconds: 0.002)
        metrics.delivery(channel: "ops", result: "delivered")
        let text = MetricsExposition.render(
            metrics,
            live: .init(
                jobs: ["backup", "idle"], nextRuns: ["backup": 1_800_000_600], running: 1, queued: 2, workers: 4))
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"jobcontrol_builds_total{job_id="backup",result="failed"} 2"#,
            #"jobcontrol_builds_total{job_id="idle",result="successful"} 0"#,
            #"jobcontrol_builds_total{job_id="odd\"name\\",result="successful"} 1"#,
            #"jobcontrol_build_duration_seconds_bucket{job_id="backup",le="5"} 2"#,
            #"jobcontrol_build_duration_seconds_bucket{job_id="backup",le="1"} 0"#,
            #"jobcontrol_build_duration_seconds_sum{job_id="backup"} 5"#,
            #"jobcontrol_job_consecutive_failures{job_id="backup"} 2"#,
            #"jobcontrol_job_last_failure_timestamp_seconds{job_id="backup"} 1800000000"#,
            #"jobcontrol_job_next_run_timestamp_seconds{job_id="backup"} 1800000600"#,
            #"jobcontrol_occurrences_total{job_id="backup",outcome="missed"} 1"#,
            "jobcontrol_builds_running 1", "jobcontrol_builds_queued 2", "jobcontrol_workers 4",
            "jobcontrol_log_lines_total 3", "jobcontrol_log_bytes_total 42",
            #"jobcontrol_storage_commit_duration_seconds_bucket{le="0.0025"} 1"#,
            #"jobcontrol_notification_deliveries_total{channel="ops",result="delivered"} 1"#,
            "# TYPE jobcontrol_builds_total counter", "# TYPE jobcontrol_build_duration_seconds histogram",
        ] {
            #expect(lines.contains(expected), "missing: \(expected)")
        }
        #expect(!text.contains(#"last_success_timestamp_seconds{job_id="backup"}"#), "no success known")
        // A success ends the run of failures.
        metrics.buildFinished(job: "backup", result: "successful", duration: 1, at: end)
        #expect(
            MetricsExposition.render(metrics, live: .init(jobs: [], nextRuns: [:], running: 0, queued: 0, workers: 1))
                .contains(#"jobcontrol_job_consecutive_failures{job_id="backup"} 0"#))
    }

    @Test func tokensGrantTheirLevelAndNothingElse() throws {
        let config = try ConfigLoader.parse(
            yaml: """
                secret: {scraper: s3cr3t-scraper-token-1}
                http:
                  listen: '[::1]:9187'
                  tokens: [{token: !secret scraper, level: read}, {token: operator-token-0123456789, level: run}]
                jobs: []
                """, file: "t.yaml")
        let http = try #require(config.http)
        #expect(http.hostAndPort! == ("::1", 9187))
        #expect(http.level(authorization: "Bearer s3cr3t-scraper-token-1", secrets: config.secrets) == .read)
        #expect(http.level(authorization: "Bearer operator-token-0123456789", secrets: config.secrets) == .run)
        #expect(http.level(authorization: "Bearer s3cr3t-scraper-token-2", secrets: config.secrets) == nil)
        #expect(http.level(authorization: "bearer  s3cr3t-scraper-token-1 ", secrets: config.secrets) == .read)
        #expect(http.level(authorization: nil, secrets: config.secrets) == nil, "anonymous: none by default")
        let errors = configErrors(
            "http: {listen: 'localhost', anonymous: run, tokens: [{token: short, level: read}]}\njobs: []\n")
        #expect(errors.contains { $0.contains("'listen' must be HOST:PORT") })
        #expect(errors.contains { $0.contains("'anonymous' must be none or read") })
        #expect(errors.contains { $0.contains("at least 16 characters") })
    }
}
