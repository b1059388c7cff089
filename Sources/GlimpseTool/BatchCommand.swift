import ArgumentParser
import Foundation
import GlimpseCaptioning
import GlimpseImage
import GlimpseModel
import GlimpseSupport

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Caption every image in a folder tree, resumably, into JSON Lines, CSV or COCO results.",
        discussion: """
        Images are found by their bytes, hidden entries are skipped, files are taken in \
        sorted order; the summary names the first files that are not images (--verbose \
        names each). A folder with no image is an error, and nothing is written. \
        Results are appended batch by batch; rerunning with the same output skips the \
        images already in it (a cut last line is redone). Ctrl-C (or SIGTERM) stops at the \
        next image: what is done is saved (the --html page too), the exit status is 130 \
        (143), and the same command resumes. The format follows the output's extension \
        (.jsonl, .csv, .json for COCO's results) unless --format is given; a --format that \
        contradicts the extension is refused. A caption cut at --max-length before the \
        model ended it has "truncated": true in JSON Lines and ends with "…" on the page. \
        COCO image_ids are paths relative to DIR, \
        which `glimpse score` accepts for the dataset in DIR. --shard i/n takes a fixed \
        share of the files (by a hash of the path relative to DIR), 0 <= i < n, so n \
        machines can split a folder; their outputs concatenate into the whole.
        """)

    @Argument(help: "The folder to caption.", completion: .directory)
    var directory: String

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var searchOptions: SearchOptions

    @Option(help: "Where to write the results (.jsonl, .csv, or .json for COCO's results array).", completion: .file())
    var output: String

    @Option(name: .customLong("format"),
            help: "jsonl, csv, or coco (the results format: [{image_id, caption}]); default: from the --output extension, else jsonl.")
    var requestedFormat: BatchFormat?

    @Flag(help: "Name each file skipped as not an image (the summary names the first five).")
    var verbose = false

    @Option(help: ArgumentHelp("Caption only share i of n (0 <= i < n); auto: the share the scheduler gives this process "
                               + "(a Slurm array task, an srun task or an MPI rank).", valueName: "i/n|auto"))
    var shard: String?

    @Option(help: "Write a static HTML gallery page here.", completion: .file())
    var html: String?

    @Flag(help: "With --html: write attention sheets beside the page and show them.")
    var attention = false

    @Option(help: "With --attention: colour each word's panel on its own scale (word), or all panels against one common maximum (shared).")
    var attentionScale: AttentionSheet.Scale = .eachWord

    @Option(help: "Threads decoding and preprocessing images while the model runs (default: --threads, as in caption and evaluate).")
    var workers: Int?

    /// The output's format: as asked, or as its extension says.
    var format: BatchFormat { requestedFormat ?? BatchFormat(impliedBy: output) ?? .jsonl }

    func validate() throws {
        if let requested = requestedFormat, let implied = BatchFormat(impliedBy: output), requested != implied {
            let stem = (output as NSString).deletingPathExtension
            throw ValidationError("--output \(output) names a \(implied.rawValue) file but --format is \(requested.rawValue); "
                                  + "use --output \(stem).\(requested.fileExtension), or leave out --format for \(implied.rawValue).")
        }
        if let shard, shard != "auto", Shard(shard) == nil {
            throw ValidationError("--shard must be i/n with 0 <= i < n, or auto, got '\(shard)'.")
        }
        if attention && html == nil { throw ValidationError("--attention needs --html (the sheets are shown on the page).") }
        if attentionScale != .eachWord && !attention {
            throw ValidationError("--attention-scale sets how attention sheets are coloured: give --html and --attention too.")
        }
        if let workers, workers < 1 || workers > Limits.threads {
            throw ValidationError("--workers must be from 1 to \(Limits.threads), got \(workers).")
        }
        var status = stat()
        guard FileName.withSystemPath(directory, { stat($0, &status) }) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            throw ValidationError("\(directory) is not a folder.")
        }
    }

    /// Whether two paths name one file: the same bytes, or (when both exist) one device and inode.
    static func sameFile(_ first: String, _ second: String) -> Bool {
        if FileName.key(first) == FileName.key(second) { return true }
        var a = stat(), b = stat()
        guard FileName.withSystemPath(first, { stat($0, &a) }) == 0, FileName.withSystemPath(second, { stat($0, &b) }) == 0 else {
            return false
        }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// The root without a trailing "/" (paths in the output are relative to it).
    var root: String { directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory }

    /// `PAGE_attention/RELATIVE.png`, with --attention.
    func sheetPath(_ relative: String) -> String? {
        guard attention, let html else { return nil }
        return (html as NSString).deletingPathExtension + "_attention/" + relative + ".png"
    }

    /// The `--shard` to take: as given, or (auto) the scheduler's, saying which variables gave it.
    func resolvedShard(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard {
        guard shard == "auto" else { return shard.flatMap(Shard.init) ?? .whole }
        let found: (shard: Shard, source: String)?
        do { found = try Shard.fromEnvironment(environment) } catch { throw ToolFailure("--shard auto: \(error)") }
        guard let found else {
            throw ToolFailure("--shard auto: no scheduler's share in the environment (looked for \(Shard.environmentNames)); "
                              + "give --shard i/n")
        }
        Terminal.standardError("batch: shard \(found.shard.index)/\(found.shard.count) from \(found.source)")
        return found.shard
    }

    func run() throws {
        let shard = try resolvedShard()
        // Before the model loads and before any file is made: a folder with no image is a mistake.
        try Self.requireImages(in: root)
        let captioner = Captioner(checkpoint: try modelOptions.load())
        let outputFile = try prepareOutputs(shard: shard)
        let previous: [BatchRecord]
        do { previous = try outputFile.open() } catch { throw ToolFailure(error.description) }
        // By bytes: names that differ only in Unicode normalisation are different files.
        let done = Set(previous.map { FileName.key($0.path) })
        // From here Ctrl-C stops the run at the next image, with everything done saved.
        let stop = StopSignal.catching([SIGINT, SIGTERM])
        let source = FileSource(folder: root, shard: shard, done: done, stop: stop, listsNonImages: verbose)
        // The gallery and the COCO array need every record; plain JSONL/CSV runs keep none.
        var records = html != nil || format == .coco ? previous : []
        var tally = Tally()
        try caption(with: captioner, from: source, into: outputFile, records: &records, tally: &tally,
                    estimated: Self.countFiles(under: root, shard: shard, done: done))
        // A signal after the walk reached its end stopped nothing: the run is whole.
        let interruption = source.isExhausted ? nil : stop.requested

        // The page is written while the output's lock is still held, so runs on one output
        // cannot interleave their pages either.
        if let html { try writePage(html, records: records, interrupted: interruption != nil) }
        do { try outputFile.finish(allRecords: records) } catch { throw ToolFailure(error.description) }

        let problems = source.problems
        for problem in problems {
            Terminal.standardError("\(problem.path): \(problem.reason)")
        }
        var summary = "\(tally.captioned) captioned, \(tally.failed) failed, \(source.alreadyDone) skipped as already done"
        if source.nonImages > 0 {
            summary += ", " + Plural.counted(source.nonImages, "non-image file") + " ignored ("
                + PlainText.list(source.firstNonImages.map(FileName.shown), total: source.nonImages)
                + (source.nonImages > source.firstNonImages.count && !verbose ? "; --verbose names each" : "") + ")"
        }
        if shard.count > 1 { summary += " (shard \(shard.index)/\(shard.count))" }
        tally.progress?.finish(summary)
        if tally.truncated > 0 {
            Terminal.standardError(PlainText.truncationNote(tally.truncated, maxLength: searchOptions.maxLength,
                                                            marked: format == .jsonl ? "\"truncated\": true in the output" : nil))
        }
        if tally.unfamiliar > 0 {
            Terminal.standardError("glimpse: warning: \(Plural.counted(tally.unfamiliar, "image")) of \(tally.captioned) "
                                   + "\(tally.unfamiliar == 1 ? "looks" : "look") unlike the images this model was trained on: "
                                   + "\(tally.unfamiliar == 1 ? "its caption is" : "their captions are") likely wrong"
                                   + (format == .jsonl ? " (\"unfamiliar\": true in the output)" : html != nil ? " (marked on the page)" : ""))
        }
        if let interruption {
            Terminal.standardError(interruptionMessage(interruption, records: previous.count + tally.processed,
                                                       left: source.filesNotLookedAt(of: tally.estimated)))
            throw ExitCode(128 + interruption)
        }
        if stop.requested != nil { Terminal.standardError("glimpse: the signal came after the last file was reached; the run is complete") }
        if tally.failed > 0 || !problems.isEmpty { throw ExitCode(1) }
    }

    /// What an interrupted run saved, and how to go on.
    func interruptionMessage(_ signal: Int32, records: Int, left: Int) -> String {
        let name = signal == SIGINT ? "Ctrl-C (SIGINT)" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)"
        var saved = format == .coco ? "\(output) (resume state in \(output).progress.jsonl)" : output
        if let html { saved += " and the page \(html)" }
        return "glimpse: stopped by \(name); \(Plural.counted(records, "image")) saved in \(saved); "
            + "run the same command again to go on with the \(Plural.counted(left, "file")) not yet looked at"
    }

    /// Counts of this run, and its progress reporter.
    struct Tally {
        var captioned = 0, failed = 0, processed = 0, truncated = 0, unfamiliar = 0
        /// Files in the shard not done before, counted by name before the run.
        var estimated = 0
        var progress: ProgressReporter?
    }

    /// Fails, naming what the folder holds instead, when it holds no image file: an empty
    /// folder, or only other files. Looks no further than the first image.
    static func requireImages(in root: String) throws {
        var files = ImageFiles(folder: root, sniffs: false)
        var others: [String] = [], otherCount = 0
        while let file = files.next() {
            if ImageFiles.looksLikeImage(file.path) { return }
            otherCount += 1
            if others.count < 5 { others.append(FileName.shown(file.relative)) }
        }
        for problem in files.problems { Terminal.standardError("\(problem.path): \(problem.reason)") }
        let holds = otherCount == 0
            ? "it holds no file (hidden ones are not looked at)"
            : Plural.counted(otherCount, "file") + ", none of them an image (" + PlainText.list(others, total: otherCount) + ")"
        Terminal.standardError("glimpse: no images in \(root): \(holds); nothing was written")
        throw ExitCode(1)
    }

    /// Folders for the page and the sheets made first (a bad path fails before the work, not
    /// after), and the page and output checked: a page batch did not write, or one that is the
    /// output itself, is refused.
    private func prepareOutputs(shard: Shard) throws -> BatchOutput {
        let sheetFolder = html.map { (($0 as NSString).deletingPathExtension) + "_attention" }
        for folder in [html.map { ($0 as NSString).deletingLastPathComponent }, attention ? sheetFolder : nil].compactMap({ $0 })
        where !folder.isEmpty {
            do { try FileBytes.makeDirectories(folder) } catch { throw ToolFailure(error.description) }
        }
        if let html, FileName.withSystemPath(html, { access($0, F_OK) }) == 0, !HTMLGallery.isGalleryPage(html) {
            throw ToolFailure("\(html): exists and is not a gallery page of an earlier glimpse batch run, so it is left "
                              + "untouched; choose another --html or remove it")
        }
        let outputFile = BatchOutput(path: output, format: format, writesHeader: shard.index == 0)
        if let html, Self.sameFile(html, output) || Self.sameFile(html, outputFile.progressPath) {
            throw ToolFailure("\(html): --html names the output file; give the page a name of its own")
        }
        return outputFile
    }

    /// `GLIMPSE_TEST_BATCH_PAUSE=SECONDS`, for the interruption tests only: after each batch is
    /// saved, say so (`glimpse: test pause after a batch` on standard error) and sleep, so that
    /// a test can send a signal while the run is surely in the middle of the folder.
    static func batchPauseForTests() -> (() -> Void)? {
        guard let text = ProcessInfo.processInfo.environment["GLIMPSE_TEST_BATCH_PAUSE"],
              let seconds = Double(text), seconds >= 0, seconds <= 60 else { return nil }
        return {
            Terminal.standardError("glimpse: test pause after a batch")
            Thread.sleep(forTimeInterval: seconds)
        }
    }

    /// A quick count by name (no file opened) for the progress bar; corrected as non-images turn up.
    static func countFiles(under root: String, shard: Shard, done: Set<ExactPath>) -> Int {
        var counter = ImageFiles(folder: root, sniffs: false)
        var estimated = 0
        while let file = counter.next() {
            if shard.contains(relativePath: file.relative) && !done.contains(FileName.key(file.relative)) { estimated += 1 }
        }
        return estimated
    }

    /// The captioning pipeline over `source`, each batch's records appended to the output
    /// (and its attention sheets written) before the next; stops at the first write failure.
    private func caption(with captioner: Captioner, from source: FileSource, into outputFile: BatchOutput,
                         records: inout [BatchRecord], tally: inout Tally, estimated: Int) throws {
        let keepsRecords = html != nil || format == .coco
        let progress = ProgressReporter("batch", total: estimated, unit: "images")
        tally.progress = progress
        tally.estimated = estimated
        let pause = Self.batchPauseForTests()
        var writeFailure: BatchOutputError?
        do { try outputFile.append([]) } catch { throw ToolFailure(error.description) }  // the CSV header, even for no images

        struct StopWriting: Error {}
        var counts = (captioned: 0, failed: 0, processed: 0, truncated: 0, unfamiliar: 0)
        var kept: [BatchRecord] = []
        do {
            try captioner.captionAll(AnyIterator { source.next().map { (path: $0.path, tag: $0.relative) } },
                                     batchSize: searchOptions.batchSize, workers: workers ?? modelOptions.threads,
                                     options: searchOptions.decodingOptions(keepsAttention: attention),
                                     keepImage: attention) { batch in
                var batchRecords: [BatchRecord] = []
                for item in batch {
                    guard let best = item.result?.best else {
                        counts.failed += 1
                        let reason = item.error ?? "unreadable"
                        progress.note("\(FileName.shown(item.path)): \(reason)")
                        batchRecords.append(BatchRecord(path: item.tag, error: reason))
                        continue
                    }
                    counts.captioned += 1
                    if !best.isComplete { counts.truncated += 1 }
                    var record = BatchRecord(path: item.tag, caption: captioner.text(best), logProbability: best.logProbability,
                                             truncated: !best.isComplete)
                    if let familiarity = item.result?.familiarity {
                        record.familiarity = (JSONNumber.rounded(familiarity.distance), familiarity.isUnfamiliar)
                        if familiarity.isUnfamiliar { counts.unfamiliar += 1 }
                    }
                    batchRecords.append(record)
                    if let sheet = sheetPath(item.tag), let image = item.image {
                        do {
                            try FileBytes.makeDirectories(FileBytes.parentDirectory(of: sheet))
                            try AttentionSheets.write(image: image, hypothesis: best, captioner: captioner, scale: attentionScale, to: sheet)
                        } catch {
                            progress.note("\(sheet): cannot write the attention sheet: \(error)")
                        }
                    }
                }
                do throws(BatchOutputError) { try outputFile.append(batchRecords) } catch {
                    writeFailure = error
                    throw StopWriting()
                }
                if keepsRecords { kept += batchRecords }
                counts.processed += batch.count
                for path in source.takeUnlistedNonImages() { progress.note("\(FileName.shown(path)): not an image, ignored") }
                progress.total = max(counts.processed, estimated - source.nonImages)
                progress.update(counts.processed)
                pause?()
            }
        } catch {
            // Only StopWriting is thrown: `writeFailure` says why.
        }
        for path in source.takeUnlistedNonImages() { progress.note("\(FileName.shown(path)): not an image, ignored") }
        records += kept
        (tally.captioned, tally.failed, tally.processed, tally.truncated, tally.unfamiliar) = counts
        // Stop here: nothing more can be recorded.
        if let writeFailure { throw ToolFailure(writeFailure.description) }
    }

    /// The gallery of every record in the output (earlier runs' too), written atomically.
    private func writePage(_ html: String, records: [BatchRecord], interrupted: Bool) throws {
        let pageFolder = (html as NSString).deletingLastPathComponent
        let entries = records.map { record in
            HTMLGallery.Entry(imagePath: root + "/" + record.path, label: FileName.shown(record.path),
                              caption: record.caption.map { PlainText.caption($0, truncated: record.truncated) },
                              logProbability: record.logProbability, error: record.error,
                              unfamiliar: record.familiarity?.unfamiliar == true,
                              sheetPath: sheetPath(record.path).flatMap { FileBytes.isRegularFile($0) ? $0 : nil })
        }
        let note = interrupted ? "Interrupted: these are the images done so far; the same glimpse batch command goes on with the rest." : nil
        let page = HTMLGallery.page(title: "Captions: \(directory)", entries: entries,
                                    pageFolder: pageFolder.isEmpty ? "." : pageFolder, note: note)
        do { try FileBytes.writeAtomically(Array(page.utf8), to: html) } catch { throw ToolFailure(error.description) }
    }
}

/// The files to caption, in walk order: images in the shard not already in the output,
/// until a stop is requested. Files are sniffed here, after the shard and the output are
/// consulted, so other shards' files and the images already done are not opened.
/// Used by one pipeline thread at a time (the pipeline holds its lock while calling `next`).
final class FileSource: @unchecked Sendable {
    private var walk: ImageFiles
    let shard: Shard
    let done: Set<ExactPath>
    private let stop: StopSignal?
    private let listsNonImages: Bool
    private let lock = NSLock()
    private var counts = (alreadyDone: 0, lookedAt: 0, nonImages: 0)
    private var firstOthers: [String] = []
    private var unlisted: [String] = []
    private var exhausted = false

    /// - Parameter listsNonImages: keep every non-image file for `takeUnlistedNonImages`
    ///   (otherwise only the first five are kept, for the summary).
    init(folder: String, shard: Shard, done: Set<ExactPath>, stop: StopSignal? = nil, listsNonImages: Bool = false) {
        self.walk = ImageFiles(folder: folder, sniffs: false)
        self.shard = shard
        self.done = done
        self.stop = stop
        self.listsNonImages = listsNonImages
    }

    var alreadyDone: Int { lock.withLock { counts.alreadyDone } }
    /// Files of the shard that were not in the output, not images.
    var nonImages: Int { lock.withLock { counts.nonImages } }
    /// The first five of them, relative to the folder.
    var firstNonImages: [String] { lock.withLock { firstOthers } }
    var problems: [DirectoryWalk.Problem] { lock.withLock { walk.problems } }
    /// Whether the walk reached its end (so nothing was left for a later run).
    var isExhausted: Bool { lock.withLock { exhausted } }

    /// Of `estimated` files (the shard's files not in the output, counted by name), those
    /// the walk has not reached yet.
    func filesNotLookedAt(of estimated: Int) -> Int { lock.withLock { max(0, estimated - counts.lookedAt) } }

    /// The paths of the non-image files found since the last call (with `listsNonImages`).
    func takeUnlistedNonImages() -> [String] {
        lock.withLock {
            defer { unlisted = [] }
            return unlisted
        }
    }

    func next() -> ImageFiles.File? {
        lock.withLock {
            while stop?.requested == nil {
                guard let file = walk.next() else {
                    exhausted = true
                    return nil
                }
                guard shard.contains(relativePath: file.relative) else { continue }
                if done.contains(FileName.key(file.relative)) {
                    counts.alreadyDone += 1
                    continue
                }
                counts.lookedAt += 1
                guard ImageFiles.looksLikeImage(file.path) else {
                    counts.nonImages += 1
                    if firstOthers.count < 5 { firstOthers.append(file.relative) }
                    if listsNonImages { unlisted.append(file.path) }
                    continue
                }
                return file
            }
            return nil
        }
    }
}
