// swift-tools-version: 6.2
// A daemon of your own: JobControl's whole jobcontrold, with your Swift functions registered.
// Build it with `swift build` here; it depends on this repository by path.
import PackageDescription

let package = Package(
    name: "ReportsDaemon",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "JobControl", path: "../..")
    ],
    targets: [
        .executableTarget(
            name: "reports-jobcontrold",
            dependencies: [
                .product(name: "JobControl", package: "JobControl"),
                .product(name: "JobControlDaemon", package: "JobControl"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
