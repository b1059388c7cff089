import ArgumentParser
import Foundation
import GlimpseCaptioning
import GlimpseImage
import GlimpseTensor

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe image files (format, size, channels, bit depth, orientation), or this machine (--system).",
        discussion: """
        Each file is decoded in full, so a damaged file is reported even when its \
        header is intact. Folders are searched recursively for images (recognised by \
        their bytes, not their names). A file that cannot be read gets one line on \
        standard error naming it and the reason; the others are still reported, and \
        the exit status is 1 if any file failed.
        """)

    @Argument(help: "Image files or folders.")
    var paths: [String] = []

    @Flag(help: "Describe this machine instead: the CPU, its vector features and the OpenBLAS kernels in use.")
    var system = false

    @Flag(help: "Print one JSON object per file (JSON Lines) instead of text.")
    var json = false

    @Flag(help: "Read only the headers (faster; does not detect damaged pixel data).")
    var headerOnly = false

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels = ImageDecodingOptions().maxPixels

    func validate() throws {
        if paths.isEmpty && !system { throw ValidationError("Give at least one image file or folder (or --system).") }
        if !paths.isEmpty && system { throw ValidationError("--system describes the machine; give no image paths with it.") }
        if maxPixels <= 0 { throw ValidationError("--max-pixels must be positive, got \(maxPixels).") }
    }

    func run() throws {
        if system {
            print(Self.systemReport(json: json))
            return
        }
        var options = ImageDecodingOptions()
        options.maxPixels = maxPixels
        let decoder = ImageDecoder(options: options)
        let walk = ImageFiles.all(paths)
        var failures = 0

        for problem in walk.problems {
            failures += 1
            report(error: "\(problem.path): \(problem.reason)", path: problem.path, reason: problem.reason)
        }
        for path in walk.files.map(\.path) {
            do {
                let info = headerOnly ? try decoder.info(contentsOf: path) : try decoder.decode(contentsOf: path).info
                print(json ? Self.jsonLine(path: path, info: info) : Self.textLine(path: path, info: info))
            } catch {
                failures += 1
                report(error: error.description, path: path, reason: error.reasonDescription)
            }
        }
        if walk.skippedNonImages > 0 {
            Terminal.standardError("glimpse: skipped \(walk.skippedNonImages) file(s) in folders that are not images")
        }
        if walk.files.isEmpty && walk.problems.isEmpty {
            Terminal.standardError("glimpse: no image files found")
            throw ExitCode(1)
        }
        if failures > 0 {
            Terminal.standardError("glimpse: \(failures) of \(walk.files.count) file(s) could not be read")
            throw ExitCode(1)
        }
    }

    /// The machine as Glimpse sees it: what decides its speed.
    static func systemReport(json: Bool) -> String {
        let cpu = CPUInfo.current
        let processors = ProcessInfo.processInfo.activeProcessorCount
        if json {
            return JSONLine.object([
                ("glimpse", .string(GlimpseVersion.string)),
                ("cpu", .string(cpu.brand)), ("vendor", .string(cpu.vendor)),
                ("family", .int(cpu.family)), ("model", .int(cpu.model)),
                ("features", .string(cpu.features.sorted().map(\.rawValue).joined(separator: " "))),
                ("processors", .int(processors)),
                ("openblas", .string(BLAS.configuration)),
                ("blas_kernels", .string(BLAS.coreName)),
                ("blas_kernels_reason", .string(BLAS.kernelDecision.reason)),
                ("blas_threads", .int(BLAS.threadCount)),
            ])
        }
        return """
            glimpse \(GlimpseVersion.string)
            CPU: \(cpu.summary), \(processors) processor(s)
            OpenBLAS: \(BLAS.configuration)
            OpenBLAS \(BLAS.kernelReport)
            OpenBLAS threads: \(BLAS.threadCount)
            """
    }

    private func report(error: String, path: String, reason: String) {
        if json {
            print(JSONLine.object([("path", .string(path)), ("error", .string(reason))]))
        } else {
            Terminal.standardError(error)
        }
    }

    static func textLine(path: String, info: ImageInfo) -> String {
        var parts = ["\(info.format)", "\(info.width)x\(info.height)",
                     "\(info.channels) channel\(info.channels == 1 ? "" : "s") (\(info.colorModel))",
                     "\(info.bitDepth)-bit", "orientation \(info.orientation)"]
        if info.isProgressive { parts.append(info.format == .png ? "interlaced" : "progressive") }
        return "\(PlainText.escapedPath(path)): " + parts.joined(separator: ", ")
    }

    static func jsonLine(path: String, info: ImageInfo) -> String {
        JSONLine.object([
            ("path", .string(path)), ("format", .string(info.format.rawValue)),
            ("width", .int(info.width)), ("height", .int(info.height)),
            ("channels", .int(info.channels)), ("bit_depth", .int(info.bitDepth)),
            ("color", .string(info.colorModel)), ("alpha", .bool(info.hasAlpha)),
            ("orientation", .int(info.orientation.rawValue)), ("progressive", .bool(info.isProgressive)),
        ])
    }
}
