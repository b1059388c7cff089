import Foundation

/// Runs the built `glimpse` executable, as a user would, and captures its output.
struct ToolRunner {
    struct Outcome {
        var status: Int32
        var standardOutput: String
        var standardError: String

        /// The run outlived the timeout given and was killed.
        var timedOut = false

        var outputLines: [String] { standardOutput.split(separator: "\n").map(String.init) }
        var errorLines: [String] { standardError.split(separator: "\n").map(String.init) }
    }

    /// The folder holding the test bundle also holds the products SwiftPM built.
    static var executable: String {
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var folder = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        // On Linux the test binary may sit inside a `.xctest` bundle folder.
        if folder.pathExtension == "xctest" { folder = folder.deletingLastPathComponent() }
        return folder.appendingPathComponent("glimpse").path
    }

    /// - Parameters:
    ///   - environment: variables to set (a nil value removes one) on top of this process's.
    ///   - timeout: kill the run (SIGKILL) after this many seconds and say so in the outcome:
    ///     for tests of inputs that once made the tool wait forever.
    ///   - program: another executable than `glimpse` (a browser rendering a page).
    static func run(_ arguments: [String], currentDirectory: String? = nil,
                    environment: [String: String?] = [:], timeout: TimeInterval? = nil,
                    program: String = executable) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        if !environment.isEmpty {
            var merged = ProcessInfo.processInfo.environment
            for (name, value) in environment { merged[name] = value }
            process.environment = merged
        }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        final class Flag: @unchecked Sendable { var raised = false }
        let killed = Flag()
        if let timeout {
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [process] in
                if process.isRunning { killed.raised = true; kill(pid, SIGKILL) }
            }
        }
        // Read both pipes before waiting, so a chatty child cannot block on a full pipe.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus,
                       standardOutput: String(decoding: outputData, as: UTF8.self),
                       standardError: String(decoding: errorData, as: UTF8.self), timedOut: killed.raised)
    }
}

/// A scratch folder removed when the test ends.
final class ScratchFolder {
    let path: String
    init() throws {
        let name = "glimpse-test-" + UUID().uuidString
        path = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func copy(fixture name: String, as newName: String? = nil) throws {
        let destination = URL(fileURLWithPath: path).appendingPathComponent(newName ?? name)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixturesDirectory + "/" + name, toPath: destination.path)
    }

    func write(_ bytes: [UInt8], to name: String) throws {
        let url = URL(fileURLWithPath: path).appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    /// The image fixtures shared with GlimpseImageTests.
    static let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("GlimpseImageTests/Fixtures").path
}
