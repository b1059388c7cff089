import GlimpseSupport
import Foundation
import GlimpseImage
import GlimpseModel
#if canImport(Glibc)
import Glibc
#endif

/// `RUN_DIR/last`: the run's latest weights, optimizer state and progress, saved as one set.
///
/// A save writes a new folder `RUN_DIR/checkpoints/step-<step>.<unique>/` holding
/// `model.safetensors`, `state.safetensors`, `progress.json` and, last, `set.json` (the step
/// and every file's size), syncs it, then points the symbolic link `RUN_DIR/last` at it with
/// one rename and removes the older folders. A kill at any instant leaves `last` pointing at
/// the previous complete set or at the new one, never at a mix. `RUN_DIR/last.safetensors`
/// is a fixed link to `last/model.safetensors`, for `--model`.
///
/// Resuming checks the set `last` names (the manifest, every size, the step in the state)
/// and, if it is damaged, falls back to the newest complete set in `checkpoints/`, saying so.
public enum CheckpointSet {
    public static let folderName = "checkpoints"
    public static let modelFile = "model.safetensors", stateFile = "state.safetensors"
    public static let progressFile = "progress.json", manifestFile = "set.json"

    /// The moments of a save, in order; `TrainingRun.savePause` is called before each.
    public enum Stage: String, Sendable, CaseIterable {
        case model, state, progress, manifest, pointer, cleanup
    }

    /// `set.json`: what a complete set holds.
    struct Manifest: Codable, Equatable {
        var format = "glimpse-checkpoint-set"
        var step: Int
        var epoch: Int
        var batchIndex: Int
        /// File name → size in bytes.
        var files: [String: Int]
    }

    /// A set read back for resuming.
    public struct Loaded {
        public var folder: String
        public var checkpoint: Checkpoint
        public var state: TrainingState
        public var progress: RunProgress
        /// Sets passed over, newest first, each with why.
        public var skipped: [(folder: String, reason: String)]
    }

    // MARK: Saving

    /// Writes a complete set for `step` and makes it `last`.
    static func commit(in layout: RunLayout, checkpoint: Checkpoint, state: TrainingState, progress: RunProgress,
                       pause: ((Stage) -> Void)?) throws(TrainingError) {
        let step = state.optimizer.stepCount
        let parent = layout.directory + "/" + folderName
        if mkdir(parent, 0o755) != 0 && errno != EEXIST {
            throw .file(path: parent, reason: FileBytes.systemMessage(errno))
        }
        var template = Array(String(format: "%@/step-%08d.XXXXXX", parent, step).utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw .file(path: parent, reason: FileBytes.systemMessage(errno))
        }
        let folder = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        chmod(folder, 0o755)
        do {
            pause?(.model)
            try checkpoint.write(to: folder + "/" + modelFile)
            pause?(.state)
            try state.write(to: folder + "/" + stateFile)
        } catch {
            throw .checkpoint(error)
        }
        pause?(.progress)
        try JSONFile.write(progress, to: folder + "/" + progressFile)
        var sizes: [String: Int] = [:]
        for name in [modelFile, stateFile, progressFile] {
            var info = stat()
            guard stat(folder + "/" + name, &info) == 0 else {
                throw .file(path: folder + "/" + name, reason: FileBytes.systemMessage(errno))
            }
            sizes[name] = Int(info.st_size)
        }
        pause?(.manifest)
        try JSONFile.write(Manifest(step: step, epoch: state.dataPosition.epoch, batchIndex: state.dataPosition.batchIndex,
                                    files: sizes), to: folder + "/" + manifestFile)
        try syncDirectory(folder)
        try syncDirectory(parent)

        pause?(.pointer)
        let name = String(folder.dropFirst(parent.count + 1))
        try pointLink(layout.lastSet, at: folderName + "/" + name)
        if !isLink(layout.last) {
            // A run folder from before sets (or a fresh one): the fixed link for `--model`.
            unlink(layout.directory + "/last.state.safetensors")
            unlink(layout.directory + "/progress.json")
            try pointLink(layout.last, at: "last/" + modelFile)
        }
        try syncDirectory(layout.directory)

        pause?(.cleanup)
        removeFolders(in: layout, except: name)
    }

    /// Makes `path` a symbolic link to `target` by creating the link beside it and renaming it
    /// over `path`: readers see the old link or the new one.
    static func pointLink(_ path: String, at target: String) throws(TrainingError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = directory + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard symlink(target, temporary) == 0 else { throw .file(path: temporary, reason: FileBytes.systemMessage(errno)) }
        guard rename(temporary, path) == 0 else {
            let reason = FileBytes.systemMessage(errno)
            unlink(temporary)
            throw .file(path: path, reason: reason)
        }
    }

    static func syncDirectory(_ path: String) throws(TrainingError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .file(path: path, reason: FileBytes.systemMessage(errno)) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw .file(path: path, reason: FileBytes.systemMessage(errno)) }
    }

    static func isLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    // MARK: Finding and checking

    /// Whether the folder holds anything a run could resume from (a complete set or the files
    /// of an older Glimpse): a fresh run refuses such a folder. A save killed before the first
    /// set was complete leaves nothing to resume, so the run may start again.
    static func anySaved(in layout: RunLayout) -> Bool {
        if !isLink(layout.last), FileManager.default.fileExists(atPath: layout.last) { return true }
        return candidateFolders(in: layout).contains { if case .success = verify($0) { true } else { false } }
    }

    /// Checks that the run folder's file system makes symbolic links (vfat and some network
    /// file systems do not): sets need one, and finding out at the first save would lose the
    /// epoch's work.
    static func checkLinks(in layout: RunLayout) throws(TrainingError) {
        let probe = layout.directory + "/.links-probe-\(getpid())"
        unlink(probe)
        guard symlink("checkpoints", probe) == 0 else {
            throw .file(path: layout.directory, reason: "cannot make symbolic links here (\(FileBytes.systemMessage(errno))); "
                        + "checkpoint sets need them: choose a run folder on a Linux file system such as ext4, xfs or btrfs")
        }
        unlink(probe)
    }

    /// Before a fresh start: removes what a run that never completed a set left behind
    /// (partial folders, temporary files, links to nothing).
    static func clearIncomplete(in layout: RunLayout) {
        if isLink(layout.lastSet) { unlink(layout.lastSet) }
        if isLink(layout.last) { unlink(layout.last) }
        removeFolders(in: layout, except: nil)
    }

    /// After resuming from `folder`: `last` names it (it may have named a damaged set), and
    /// every other set folder and temporary file goes.
    static func adopt(_ folder: String, in layout: RunLayout) throws(TrainingError) {
        guard folder != layout.directory else {
            removeFolders(in: layout, except: nil)
            return
        }
        let name = (folder as NSString).lastPathComponent
        let target = folderName + "/" + name
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: layout.lastSet)) != target {
            try pointLink(layout.lastSet, at: target)
            if !isLink(layout.last) { try pointLink(layout.last, at: "last/" + modelFile) }
            try syncDirectory(layout.directory)
        }
        removeFolders(in: layout, except: name)
    }

    /// Step folders under `checkpoints/`, newest step first.
    static func candidateFolders(in layout: RunLayout) -> [String] {
        let parent = layout.directory + "/" + folderName
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        return names.filter { $0.hasPrefix("step-") }.sorted(by: >).map { parent + "/" + $0 }
    }

    /// The manifest of a complete set, or why the folder is not one.
    static func verify(_ folder: String) -> Result<Manifest, SetProblem> {
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/" + manifestFile)))
        } catch {
            return .failure(SetProblem("no readable \(manifestFile): the save did not finish"))
        }
        for name in [modelFile, stateFile, progressFile] {
            guard let expected = manifest.files[name] else { return .failure(SetProblem("\(manifestFile) does not list \(name)")) }
            var info = stat()
            guard stat(folder + "/" + name, &info) == 0 else { return .failure(SetProblem("\(name) is missing")) }
            guard Int(info.st_size) == expected else {
                return .failure(SetProblem("\(name) has \(info.st_size) bytes, the set says \(expected)"))
            }
        }
        return .success(manifest)
    }

    struct SetProblem: Error { var reason: String; init(_ reason: String) { self.reason = reason } }

    /// Reads the set `last` names, or the newest complete one when that is damaged; the files
    /// of an older Glimpse (`last.safetensors` beside `last.state.safetensors`) are read too.
    static func load(from layout: RunLayout) throws(TrainingError) -> Loaded {
        var order: [String] = []
        var skipped: [(folder: String, reason: String)] = []
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: layout.lastSet) {
            let folder = target.hasPrefix("/") ? target : layout.directory + "/" + target
            order.append(folder)
        }
        for folder in candidateFolders(in: layout) where !order.contains(folder) { order.append(folder) }
        for folder in order {
            switch verify(folder) {
            case .failure(let problem):
                skipped.append((folder, problem.reason))
            case .success(let manifest):
                do {
                    let checkpoint = try Checkpoint(contentsOf: folder + "/" + modelFile)
                    let state = try TrainingState(contentsOf: folder + "/" + stateFile, for: checkpoint.model)
                    guard state.optimizer.stepCount == manifest.step else {
                        skipped.append((folder, "the state is of step \(state.optimizer.stepCount), the set says \(manifest.step)"))
                        continue
                    }
                    let progress = try JSONFile.read(RunProgress.self, from: folder + "/" + progressFile)
                    return Loaded(folder: folder, checkpoint: checkpoint, state: state, progress: progress, skipped: skipped)
                } catch let error as CheckpointError {
                    skipped.append((folder, error.description))
                } catch {
                    skipped.append((folder, "\(error)"))
                }
            }
        }
        // Run folders written before sets: three files side by side.
        let legacyState = layout.directory + "/last.state.safetensors", legacyProgress = layout.directory + "/progress.json"
        if !isLink(layout.last), FileManager.default.fileExists(atPath: layout.last) {
            let checkpoint: Checkpoint, state: TrainingState
            do {
                checkpoint = try Checkpoint(contentsOf: layout.last)
                state = try TrainingState(contentsOf: legacyState, for: checkpoint.model)
            } catch {
                throw .checkpoint(error)
            }
            let progress = try JSONFile.read(RunProgress.self, from: legacyProgress)
            return Loaded(folder: layout.directory, checkpoint: checkpoint, state: state, progress: progress, skipped: skipped)
        }
        let reasons = skipped.map { "\($0.folder): \($0.reason)" }.joined(separator: "; ")
        throw .cannotResume(path: layout.lastSet,
                            reason: skipped.isEmpty ? "no checkpoint to resume from"
                                : "no complete checkpoint set (\(reasons)); start the run again without --resume")
    }

    // MARK: Tidying

    /// Removes every step folder but `kept` (a folder name), and the temporary files of
    /// interrupted writes in the run folder.
    static func removeFolders(in layout: RunLayout, except kept: String?) {
        let parent = layout.directory + "/" + folderName
        for folder in candidateFolders(in: layout) where (folder as NSString).lastPathComponent != kept {
            try? FileManager.default.removeItem(atPath: folder)
        }
        // Temporary links or files left by a save that was killed part way.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(".") {
            unlink(parent + "/" + name)
        }
        removeTemporaryFiles(in: layout.directory)
    }

    /// `.NAME.tmp-XXXXXX`: the atomic writer's temporary files.
    static func removeTemporaryFiles(in directory: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(".") && name.contains(".tmp-") {
            unlink(directory + "/" + name)
        }
    }
}
