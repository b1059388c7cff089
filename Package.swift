// swift-tools-version:6.0
// Glimpse: image captioning on the CPU. The README opens with a map of these targets.
import PackageDescription

let package = Package(
    name: "glimpse",
    products: [
        .executable(name: "glimpse", targets: ["GlimpseTool"]),
        .library(name: "GlimpseImage", targets: ["GlimpseImage"]),
        .library(name: "GlimpseMetrics", targets: ["GlimpseMetrics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: System libraries (found through pkg-config; see Scripts/setup.sh)
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),

        // MARK: C shim: every setjmp next to the libjpeg/libpng calls that may longjmp
        .target(name: "CGlimpseCodec", dependencies: ["CJPEG", "CPNG"]),

        // MARK: Libraries
        .target(name: "GlimpseImage", dependencies: ["CGlimpseCodec"]),

        // MARK: Caption metrics (pure Swift, no dependencies: BLEU, ROUGE-L, CIDEr-D as pycocoevalcap)
        .target(name: "GlimpseMetrics"),

        // MARK: The command-line tool
        .executableTarget(
            name: "GlimpseTool",
            dependencies: [
                "GlimpseImage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: Tests
        .testTarget(name: "GlimpseImageTests", dependencies: ["GlimpseImage"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "GlimpseToolTests", dependencies: ["GlimpseTool", "GlimpseImage"]),
        .testTarget(name: "GlimpseMetricsTests", dependencies: ["GlimpseMetrics"],
                    exclude: ["Fixtures"]),
    ]
)
