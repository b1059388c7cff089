import Foundation

/// Where the default model lives.
///
/// The repository keeps it at `Sources/GlimpseCaptioning/Resources/default-model.safetensors`;
/// SwiftPM copies that folder next to the built executable, as
/// `glimpse_GlimpseCaptioning.resources/Resources/`. Looked up by path (not through `Bundle.module`,
/// whose accessor stops the process when the bundle is missing).
public enum ModelLocator {
    public static let fileName = "default-model.safetensors"

    public static func defaultCandidates() -> [String] {
        var candidates: [String] = []
        if let environment = ProcessInfo.processInfo.environment["GLIMPSE_MODEL"], !environment.isEmpty {
            candidates.append(environment)
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let folder = (executable as NSString).deletingLastPathComponent
        candidates.append(folder + "/glimpse_GlimpseCaptioning.resources/Resources/" + fileName)
        candidates.append(folder + "/../share/glimpse/" + fileName)
        return candidates
    }

    public static func defaultModelPath() -> String? {
        defaultCandidates().first { FileManager.default.isReadableFile(atPath: $0) }
    }
}

