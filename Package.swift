// swift-tools-version:6.0
import PackageDescription

// The programs' release builds on Linux: linked by GNU ld with packed relative relocations
// (DT_RELR; glibc 2.36, Debian 12). The table the loader reads at each start shrinks from
// about 2 MB to 40 KB, which is 2 MB less RSS in each daemon (BENCHMARKS.md), and the programs
// stay position-independent (ASLR). gold, the Swift toolchain's default linker here, cannot
// write DT_RELR.
//
// They link the Swift runtime into the program (`-static-stdlib`, as `swift build
// --static-swift-stdlib` does; the modules are compiled for it too, at the end of this file): a
// native daemon needs no Swift runtime on its host and starts without the shared runtime's
// libraries, 4-5 MB less idle memory. And libstdc++, which the runtime needs, is linked from its
// static archive: `Linking/static-libstdc++` holds a linker script named `libstdc++.so` that
// says so, searched before the system's directories.
let staticRuntimeFlags = [
    "-static-stdlib", "-L\(Context.packageDirectory)/Linking/static-libstdc++",
]
let programLinkerSettings: [LinkerSetting] = [
    .unsafeFlags(
        staticRuntimeFlags + ["-use-ld=bfd", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
        .when(platforms: [.linux], configuration: .release))
]

// The daemons also export no symbols: the static Swift stdlib links with `-export-dynamic`,
// which put 0.5 MB of symbol tables into each daemon's idle memory (BENCHMARKS.md) for what only
// a backtrace's names need, and the images' stripped programs never print a symbolicated
// backtrace anyway.
let daemonLinkerSettings: [LinkerSetting] = [
    .unsafeFlags(
        staticRuntimeFlags + [
            "-use-ld=bfd", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic",
        ],
        .when(platforms: [.linux], configuration: .release))
]

let package = Package(
    name: "cloud-auto-heal",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "autoheal-monitor", targets: ["autoheal-monitor"]),
        .executable(name: "autoheal-engine", targets: ["autoheal-engine"]),
        .executable(name: "autoheal", targets: ["autoheal"]),
        .executable(name: "autoheal-bench", targets: ["autoheal-bench"]),
        .executable(name: "autoheal-fuzz", targets: ["autoheal-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
    ],
    targets: [
        // C: the system libraries and the typed shims over their variadic functions.
        .systemLibrary(
            name: "CRabbitMQ", pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]),
        .target(name: "CAMQPShim", dependencies: ["CRabbitMQ"]),
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .systemLibrary(
            name: "CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CSQLiteShim", dependencies: ["CSQLite"]),
        // epoll and eventfd, which Glibc's Swift module leaves out.
        .target(name: "CEpoll"),
        // The daemons' start-up before any library's (GnuTLS left uninitialised).
        .target(name: "CDaemonStartup"),

        // Core: config, payloads, envelope, decisions, logging. No C, no I/O clients.
        // The one lock every shared value is kept under (pthread: ThreadSanitizer sees it).
        .target(name: "CThread"),
        .target(name: "Locking", dependencies: ["CThread"]),
        .target(
            name: "AutoHealCore",
            dependencies: [
                "Locking", .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),

        // Clients: one thin Swift wrapper per C library, and the Docker API on top of HTTP.
        .target(
            name: "AMQP",
            dependencies: [
                "CAMQPShim", "AutoHealCore", .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),
        .target(name: "HTTP", dependencies: ["CCurlShim", "CEpoll", "Locking"]),
        .target(
            name: "DockerAPI",
            dependencies: ["HTTP", "AutoHealCore", .product(name: "CoreMetrics", package: "swift-metrics")]),

        // The Nova API (token or Keystone v3), on HTTP.
        .target(name: "NovaAPI", dependencies: ["HTTP", "AutoHealCore"]),

        // The decision journal: SQLite through its C API (SQLiteConnection).
        .target(
            name: "Journal",
            dependencies: ["AutoHealCore", "CSQLiteShim"]),

        // Policy: the one executor every action of every handler goes through (pause, dry run,
        // budget, rolling slots, journal, metrics, notifications, requeue).
        .target(
            name: "Policy",
            dependencies: [
                "DockerAPI", "NovaAPI", "HTTP", "AutoHealCore", "Journal", .product(name: "Logging", package: "swift-log"),
                // The fence command: a child process with a clean signal mask, in its own group.
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]),

        // Handlers: what each payload does. They observe through the Docker API and act only
        // through the policy executor. Never the broker.
        .target(name: "Handlers", dependencies: ["Policy", "DockerAPI", "NovaAPI", "AutoHealCore", "Journal"]),

        // Services.
        .target(name: "Messaging", dependencies: ["AMQP", "AutoHealCore"]),
        .target(
            name: "Engine",
            dependencies: [
                "Messaging", "Handlers", "Policy", "DockerAPI", "NovaAPI", "Journal",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .target(
            name: "Monitor",
            dependencies: [
                "Messaging", "DockerAPI", "Locking",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),

        // Telemetry: Prometheus /metrics and /healthz of each daemon.
        .target(
            name: "Telemetry",
            dependencies: [
                "AutoHealCore",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),

        // Programs.
        .executableTarget(
            name: "autoheal-monitor",
            dependencies: [
                "Monitor", "Telemetry", "CDaemonStartup",
            ],
            linkerSettings: daemonLinkerSettings),
        .executableTarget(
            name: "autoheal-engine",
            dependencies: [
                "Engine", "Telemetry", "CDaemonStartup",
            ],
            linkerSettings: daemonLinkerSettings),
        .executableTarget(
            name: "autoheal",
            dependencies: [
                "Messaging", "DockerAPI", "HTTP", "Journal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: programLinkerSettings),

        // Fuzzing: the parsers of outside input as targets (also replayed by the tests), and the
        // libFuzzer driver program (scripts/fuzz.sh builds it with -sanitize=fuzzer,address).
        .target(name: "FuzzTargets", dependencies: ["AutoHealCore", "DockerAPI", "Handlers", "NovaAPI"]),
        .systemLibrary(name: "CFuzzerDriver"),
        .executableTarget(
            name: "autoheal-fuzz", dependencies: ["FuzzTargets", "CFuzzerDriver"],
            linkerSettings: [.unsafeFlags(staticRuntimeFlags, .when(platforms: [.linux], configuration: .release))]),

        // The benchmark tool (build with -c release): the figures of BENCHMARKS.md.
        .executableTarget(
            name: "autoheal-bench",
            dependencies: [
                "Engine", "Handlers", "Policy", "Messaging", "DockerAPI", "HTTP", "AMQP", "AutoHealCore", "Journal", "CEpoll",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            linkerSettings: programLinkerSettings),

        // Tests.
        .target(
            name: "AutoHealTestSupport",
            dependencies: [
                "HTTP", "AMQP", "AutoHealCore", "DockerAPI", "NovaAPI", "Policy", "Handlers", "Journal",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/AutoHealTestSupport"),
        .testTarget(name: "AutoHealCoreTests", dependencies: ["AutoHealCore"]),
        // Every seed and every input that once crashed a fuzz target, replayed (Tests/Fuzz).
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets"]),
        // Fast: the policy and every handler against an in-memory runtime, in milliseconds.
        .testTarget(
            name: "PolicyTests",
            dependencies: [
                "Policy", "Handlers", "Journal", "DockerAPI", "NovaAPI", "AutoHealTestSupport",
            ]),
        .testTarget(
            name: "HandlersTests", dependencies: ["Handlers", "Policy", "DockerAPI", "Journal", "AutoHealTestSupport"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Engine", "Monitor", "Messaging", "AMQP", "DockerAPI", "HTTP", "NovaAPI", "Policy", "Journal", "Telemetry",
                "AutoHealTestSupport",
            ]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "AutoHealTestSupport", "AMQP", "AutoHealCore", "Messaging",
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)

// Release builds on Linux link the Swift runtime into each program (`-static-stdlib`, at the top).
// The modules must be compiled against the static runtime's module directory too
// (`-static-stdlib` makes the driver pass `-use-static-resource-dir`), or FoundationEssentials'
// static archive misses the libraries it links through its module (`_FoundationCollections`).
// The test support module is left out: it imports swift-testing, which has no static build.
for target in package.targets
where target.type != .system && target.type != .test && target.name != "AutoHealTestSupport" {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))
        ]
}
