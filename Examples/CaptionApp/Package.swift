// swift-tools-version:6.0
// An app that captions images with Glimpse, depending on it by path (CI builds and runs it).
import PackageDescription

let package = Package(
    name: "CaptionApp",
    dependencies: [.package(name: "glimpse", path: "../..")],
    targets: [
        .executableTarget(name: "CaptionApp", dependencies: [.product(name: "Glimpse", package: "glimpse")]),
    ]
)
