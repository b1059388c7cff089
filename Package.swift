// swift-tools-version:6.1
// Glimpse: image captioning on the CPU. The README opens with a map of these targets.
import Foundation
import PackageDescription

/// Open MPI is optional: with it, `mpirun -np N glimpse train` trains on N processes (Docs/scaling.md).
/// The `MPI` trait is on by default where Open MPI's pkg-config file is installed (Debian's
/// libopenmpi-dev; `bash Scripts/setup.sh --mpi`); `swift build --traits MPI` insists on it and
/// `--disable-default-traits` leaves it out. Without it Glimpse builds and runs as one process.
let openMPIInstalled: Bool = {
    let searched = (ProcessInfo.processInfo.environment["PKG_CONFIG_PATH"] ?? "").split(separator: ":").map(String.init)
        + ["/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/lib/aarch64-linux-gnu/pkgconfig", "/usr/lib64/pkgconfig",
           "/usr/lib/pkgconfig", "/usr/local/lib/pkgconfig", "/usr/share/pkgconfig"]
    return searched.contains { FileManager.default.fileExists(atPath: $0 + "/ompi-c.pc") }
}()

let package = Package(
    name: "glimpse",
    products: [
        .executable(name: "glimpse", targets: ["GlimpseTool"]),
        .executable(name: "glimpse-benchmarks", targets: ["GlimpseBenchmarks"]),
        .library(name: "GlimpseImage", targets: ["GlimpseImage"]),
        .library(name: "GlimpseData", targets: ["GlimpseData"]),
        .library(name: "GlimpseSafeTensors", targets: ["GlimpseSafeTensors"]),
        .library(name: "GlimpseTensor", targets: ["GlimpseTensor"]),
        .library(name: "GlimpseLayers", targets: ["GlimpseLayers"]),
        .library(name: "GlimpseSynth", targets: ["GlimpseSynth"]),
        .library(name: "GlimpseMetrics", targets: ["GlimpseMetrics"]),
        .library(name: "GlimpseModel", targets: ["GlimpseModel"]),
        .library(name: "GlimpseTraining", targets: ["GlimpseTraining"]),
        .library(name: "GlimpseCaptioning", targets: ["GlimpseCaptioning"]),
        // The library for apps: `import Glimpse` (Docs/API.md, Examples/CaptionApp).
        .library(name: "Glimpse", targets: ["Glimpse"]),
    ],
    traits: [
        .trait(name: "MPI", description: "Data-parallel training over Open MPI (libopenmpi-dev, found through pkg-config)."),
        .default(enabledTraits: openMPIInstalled ? ["MPI"] : []),
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
        // Only with the MPI trait (see above).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),

        // MARK: C shim: every setjmp next to the libjpeg/libpng calls that may longjmp
        .target(name: "CGlimpseCodec", dependencies: ["CJPEG", "CPNG"]),

        // MARK: Libraries
        // Files (the one reader and atomic writer, names of any bytes, locks), SplitMix64 and
        // FNV-1a: libc only, no Foundation, so that every module may use them.
        .target(name: "GlimpseSupport"),
        .target(name: "GlimpseImage", dependencies: ["CGlimpseCodec", "GlimpseSupport"]),
        // Captions as words and word ids: the tokenizer and the vocabulary (what the model needs of text).
        .target(name: "GlimpseText"),
        .target(name: "GlimpseData", dependencies: ["GlimpseImage", "GlimpseSupport", "GlimpseText"]),
        // Reads and writes .safetensors checkpoints: Swift standard library, libc and GlimpseSupport, no Foundation.
        .target(name: "GlimpseSafeTensors", dependencies: ["GlimpseSupport"]),
        // Synthetic captioned scenes (glimpse synth): the default model's training data.
        .target(name: "GlimpseSynth", dependencies: ["GlimpseImage", "GlimpseTensor", "GlimpseSupport"]),

        // MARK: Tensor and layer core (float32 on OpenBLAS; hand-written backward passes)
        // CPUID and XGETBV: which vector features this CPU has (kernel choices follow them).
        .target(name: "CGlimpseCPU"),
        .target(name: "GlimpseTensor", dependencies: ["CBLAS", "CGlimpseCPU", "GlimpseSupport"]),
        // Direct 3x3 convolution kernels for few input channels and the Winograd transforms
        // (AVX-512 / AVX2 + FMA / baseline, chosen at run time).
        .target(name: "CGlimpseKernels"),
        .target(name: "GlimpseLayers", dependencies: ["GlimpseTensor", "CGlimpseKernels"]),

        // MARK: The captioning model (Show, Attend and Tell), its training step and checkpoints
        .target(name: "GlimpseModel",
                dependencies: ["GlimpseLayers", "GlimpseTensor", "GlimpseSafeTensors", "GlimpseText", "GlimpseImage", "GlimpseSupport"]),

        // MARK: Image files in, captions out: the one captioning pipeline, and the shipped default model
        .target(name: "GlimpseCaptioning", dependencies: ["GlimpseModel", "GlimpseImage", "GlimpseTensor", "GlimpseSupport"],
                // The shipped default model (see Docs/model.md, "The default model"); looked up by path beside the executable.
                resources: [.copy("Resources")]),

        // MARK: The public Swift API: one import for apps
        .target(name: "Glimpse", dependencies: ["GlimpseCaptioning", "GlimpseImage", "GlimpseModel", "GlimpseTraining"]),

        // MARK: The processes of a training job (MPI when built with it: the one place MPI is called)
        .target(name: "GlimpseDistributed", dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))]),

        // MARK: The training loop (glimpse train as a library, so tests run it in-process)
        .target(name: "GlimpseTraining",
                dependencies: ["GlimpseDistributed", "GlimpseModel", "GlimpseCaptioning", "GlimpseData", "GlimpseMetrics", "GlimpseSynth", "GlimpseImage",
                               "GlimpseTensor", "GlimpseLayers", "GlimpseSafeTensors", "GlimpseSupport", "GlimpseText"]),

        // MARK: Test support (assertClose, gradient checker); linked only into tests
        .target(name: "GlimpseTestSupport", dependencies: ["GlimpseTensor", "GlimpseLayers"]),

        // MARK: Caption metrics (pure Swift, no dependencies: BLEU, ROUGE-L, CIDEr-D as pycocoevalcap)
        .target(name: "GlimpseMetrics"),

        // MARK: The command-line tool
        .executableTarget(
            name: "GlimpseTool",
            dependencies: [
                "GlimpseImage",
                "GlimpseData",
                "GlimpseSynth",
                "GlimpseMetrics",
                "GlimpseModel",
                "GlimpseTensor",
                "GlimpseTraining",
                "GlimpseDistributed",
                "GlimpseCaptioning",
                "GlimpseSupport",
                "GlimpseText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: Benchmarks (release mode: swift run -c release glimpse-benchmarks)
        .executableTarget(name: "GlimpseBenchmarks",
                          dependencies: ["GlimpseTensor", "GlimpseLayers", "GlimpseModel", "GlimpseImage", "GlimpseData",
                                         "GlimpseSafeTensors"],
                          path: "Benchmarks/GlimpseBenchmarks"),

        // MARK: Tests
        .testTarget(name: "GlimpseImageTests", dependencies: ["GlimpseImage", "GlimpseSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "GlimpseDataTests", dependencies: ["GlimpseData", "GlimpseText"]),
        // The tool's tests write tiny checkpoints and datasets of their own (they do not rely on the shipped model).
        .testTarget(name: "GlimpseToolTests",
                    dependencies: ["GlimpseTool", "GlimpseImage", "GlimpseSupport", "GlimpseText", "GlimpseData", "GlimpseModel", "GlimpseSafeTensors",
                                   "GlimpseTensor", "GlimpseSynth", "GlimpseTraining"]),
        .testTarget(name: "GlimpseSafeTensorsTests", dependencies: ["GlimpseSafeTensors"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "GlimpseTensorTests", dependencies: ["GlimpseTensor", "GlimpseTestSupport"]),
        .testTarget(name: "GlimpseLayersTests",
                    dependencies: ["GlimpseLayers", "GlimpseTensor", "GlimpseTestSupport", "GlimpseSafeTensors"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "GlimpseModelTests",
                    dependencies: ["GlimpseModel", "GlimpseLayers", "GlimpseTensor", "GlimpseTestSupport",
                                   "GlimpseSafeTensors", "GlimpseData", "GlimpseImage", "GlimpseText"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "GlimpseTrainingTests",
                    dependencies: ["GlimpseTraining", "GlimpseDistributed", "GlimpseModel", "GlimpseData", "GlimpseSynth", "GlimpseTensor", "GlimpseSupport", "GlimpseCaptioning",
                                   "GlimpseSafeTensors", "GlimpseImage", "GlimpseText"]),
        .testTarget(name: "GlimpseSynthTests", dependencies: ["GlimpseSynth", "GlimpseData", "GlimpseImage"]),
        .testTarget(name: "GlimpseAPITests", dependencies: ["Glimpse"]),
        .testTarget(name: "GlimpseMetricsTests", dependencies: ["GlimpseMetrics"],
                    exclude: ["Fixtures"]),
    ]
)
