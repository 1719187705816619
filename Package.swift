// swift-tools-version: 6.2
import PackageDescription

// Every target of ours: Swift 6, and warnings are errors (dependencies are not affected).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "JobControl",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "JobControl", targets: ["JobControl"]),
        // The whole daemon as a library: a package registers its Swift functions and builds its
        // own jobcontrold with `JobControlDaemonMain.run(registry:)` (Examples/reports-daemon).
        .library(name: "JobControlDaemon", targets: ["JobControlDaemon"]),
        .executable(name: "jobcontrold", targets: ["jobcontrold"]),
        .executable(name: "jobctl", targets: ["jobctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
    ],
    targets: [
        // libyaml, the parser under the configuration loader (Config/YAML); see docs/architecture.md.
        .systemLibrary(name: "CLibYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // SQLite, the embedded default storage (Storage/SQLiteDriver); see docs/architecture.md.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libsystemd (sd_notify, sd_listen_fds, sd_journal_sendv); see docs/architecture.md.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // Linux interfaces Glibc does not export (timerfd, pidfd, epoll wrappers), and the spawn
        // of a build's command into its cgroups (spawn.c: posix_spawn cannot join a cgroup).
        .target(name: "CLinux"),
        // libpq for the PostgreSQL backend: installed here, links in seconds (PostgresNIO with
        // its TLS stack adds minutes to every clean build on 2 cores); loaded with dlopen on first
        // use, so SQLite daemons and jobctl do not load it; see docs/architecture.md.
        .target(name: "CLibPQ"),
        // libcurl (webhook POSTs over HTTP and HTTPS) and libcrypto's HMAC-SHA256 (their
        // signatures), both loaded with dlopen when a webhook is first sent, as libpq is.
        .target(name: "CWebhook"),
        // The model and wire types (builds, log records, progress, JSON): a leaf on
        // FoundationEssentials alone, so jobctl links neither the core's libraries nor ICU.
        .target(name: "JobControlModel", swiftSettings: strict),
        // Schedules: calendar and cron expressions, time zones, durations. A leaf on
        // FoundationEssentials, shared by the core's scheduler and by `jobctl calendar` offline.
        .target(name: "JobControlSchedule", dependencies: ["JobControlModel"], swiftSettings: strict),
        // `jobctl import cron|timer`: crontabs and systemd timers as job files. A leaf on
        // FoundationEssentials, so the static jobctl stays small.
        .target(
            name: "JobControlImport", dependencies: ["JobControlModel", "JobControlSchedule"], swiftSettings: strict),
        // The core: configuration, storage, scheduling, execution. No socket, no systemd.
        .target(
            name: "JobControl",
            dependencies: [
                "CLinux", "CLibPQ", "CLibYAML", "CSQLite", "CWebhook", "JobControlModel", "JobControlSchedule",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Varlink: framing, messages, interface descriptions. Shared by daemon and client.
        .target(
            name: "JobControlProtocol",
            dependencies: [
                "JobControlModel",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // sd_notify and friends, behind a small Swift API.
        .target(
            name: "JobControlSystemd",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The daemon as a library, so tests can run it in-process.
        .target(
            name: "JobControlDaemon",
            dependencies: [
                "CLinux", "JobControl", "JobControlProtocol", "JobControlSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The client side of the socket, used by jobctl and by tests.
        .target(
            name: "JobControlClient",
            dependencies: [
                "JobControlModel", "JobControlProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        // Linked by lld, which lays the functions out in the order link-order.txt gives (the ones
        // start-up, a build and idling run, together: the kernel maps code 64 KB around each page
        // touched, so scattered start-up code kept 21 MB resident; scripts/link-order.sh), packs
        // the 100,000 relative relocations (RELR: 2.3 MB that every start read and wrote), and
        // exports no dynamic symbols nobody looks up (1.3 MB); docs/performance.md.
        .executableTarget(
            name: "jobcontrold", dependencies: ["JobControlDaemon"], exclude: ["link-order.txt"], swiftSettings: strict,
            linkerSettings: [
                .unsafeFlags([
                    "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker",
                    "--no-export-dynamic",
                    "-Xlinker",
                    "--symbol-ordering-file=\(Context.packageDirectory)/Sources/jobcontrold/link-order.txt",
                    "-Xlinker", "--no-warn-symbol-ordering",
                ])
            ]
        ),
        .executableTarget(
            name: "jobctl",
            dependencies: [
                "JobControlModel", "JobControlSchedule", "JobControlProtocol", "JobControlClient", "JobControlImport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["link-order.txt"],
            swiftSettings: strict,
            // A static executable starts in about a millisecond less than a dynamic one (no
            // relocations at start-up); jobctl can be one because it links no Foundation (ICU) and
            // never asks NSS for users. Its one-shot commands' functions are laid out together, as
            // the daemon's are (scripts/link-order.sh): a quarter fewer page faults per call. Release
            // only: debug builds link it into the test bundle.
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-static-executable", "-use-ld=lld", "-Xlinker",
                        "--symbol-ordering-file=\(Context.packageDirectory)/Sources/jobctl/link-order.txt",
                        "-Xlinker", "--no-warn-symbol-ordering",
                    ], .when(configuration: .release))
            ]
        ),
        // Prints the figures of docs/benchmarks.md: `swift run -c release jobcontrol-bench`.
        .executableTarget(
            name: "jobcontrol-bench",
            dependencies: [
                "JobControl", "JobControlClient", "JobControlProtocol", "CLinux",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "JobControlTests",
            dependencies: [
                "JobControl", "JobControlModel", "JobControlSchedule", "JobControlProtocol", "JobControlImport",
                // Only as an oracle: ConfigYAMLOracleTests compares the loader's YAML with Yams'.
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "JobControl", "JobControlProtocol", "JobControlClient", "JobControlDaemon", "jobcontrold", "jobctl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Scripts", "PythonJobs"],
            swiftSettings: strict
        ),
    ]
)
