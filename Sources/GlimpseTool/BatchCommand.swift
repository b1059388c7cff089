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
        sorted order. Results are appended batch by batch; rerunning with the same output \
        skips the images already in it (a cut last line is redone). --shard i/n takes a \
        fixed share of the files (by a hash of the path relative to DIR), 0 <= i < n, so \
        n machines can split a folder; their outputs concatenate into the whole.
        """)

    @Argument(help: "The folder to caption.", completion: .directory)
    var directory: String

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var searchOptions: SearchOptions

    @Option(help: "Where to write the results.", completion: .file())
    var output: String

    @Option(help: "jsonl (default), csv, or coco (the results format: [{image_id, caption}]).")
    var format: BatchFormat = .jsonl

    @Option(help: ArgumentHelp("Caption only share i of n (0 <= i < n), e.g. $SLURM_ARRAY_TASK_ID/n.", valueName: "i/n"))
    var shard: String?

    @Option(help: "Write a static HTML gallery page here.", completion: .file())
    var html: String?

    @Flag(help: "With --html: write attention sheets beside the page and show them.")
    var attention = false

    @Option(help: "Threads decoding and preprocessing images while the model runs (default: --threads, as in caption and evaluate).")
    var workers: Int?

    func validate() throws {
        if let shard, Shard(shard) == nil {
            throw ValidationError("--shard must be i/n with 0 <= i < n, got '\(shard)'.")
        }
        if attention && html == nil { throw ValidationError("--attention needs --html (the sheets are shown on the page).") }
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

    func run() throws {
        let shard = self.shard.flatMap(Shard.init) ?? .whole
        let captioner = Captioner(checkpoint: try modelOptions.load())
        let outputFile = try prepareOutputs(shard: shard)
        let previous: [BatchRecord]
        do { previous = try outputFile.open() } catch { throw ToolFailure(error.description) }
        // By bytes: names that differ only in Unicode normalisation are different files.
        let done = Set(previous.map { FileName.key($0.path) })
        let source = FileSource(files: ImageFiles(folder: root), shard: shard, done: done)
        // The gallery and the COCO array need every record; plain JSONL/CSV runs keep none.
        var records = html != nil || format == .coco ? previous : []
        var tally = Tally()
        try caption(with: captioner, from: source, into: outputFile, records: &records, tally: &tally,
                    estimated: Self.countFiles(under: root, shard: shard, done: done))

        // The page is written while the output's lock is still held, so runs on one output
        // cannot interleave their pages either.
        if let html { try writePage(html, records: records) }
        do { try outputFile.finish(allRecords: records) } catch { throw ToolFailure(error.description) }

        for problem in source.walk.problems {
            Terminal.standardError("\(problem.path): \(problem.reason)")
        }
        var summary = "\(tally.captioned) captioned, \(tally.failed) failed, \(source.alreadyDone) skipped as already done"
        if source.nonImages > 0 { summary += ", \(source.nonImages) non-image file(s) ignored" }
        if shard.count > 1 { summary += " (shard \(shard.index)/\(shard.count))" }
        tally.progress?.finish(summary)
        if tally.failed > 0 || !source.walk.problems.isEmpty { throw ExitCode(1) }
    }

    /// Counts of this run, and its progress reporter.
    struct Tally {
        var captioned = 0, failed = 0, processed = 0
        var progress: ProgressReporter?
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
        var writeFailure: BatchOutputError?
        do { try outputFile.append([]) } catch { throw ToolFailure(error.description) }  // the CSV header, even for no images

        struct StopWriting: Error {}
        var counts = (captioned: 0, failed: 0, processed: 0)
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
                        Terminal.standardError("\(FileName.shown(item.path)): \(reason)")
                        batchRecords.append(BatchRecord(path: item.tag, error: reason))
                        continue
                    }
                    counts.captioned += 1
                    batchRecords.append(BatchRecord(path: item.tag, caption: captioner.text(best), logProbability: best.logProbability))
                    if let sheet = sheetPath(item.tag), let image = item.image {
                        do {
                            try FileBytes.makeDirectories(FileBytes.parentDirectory(of: sheet))
                            try AttentionSheets.write(image: image, hypothesis: best, captioner: captioner, to: sheet)
                        } catch {
                            Terminal.standardError("\(sheet): cannot write the attention sheet: \(error)")
                        }
                    }
                }
                do throws(BatchOutputError) { try outputFile.append(batchRecords) } catch {
                    writeFailure = error
                    throw StopWriting()
                }
                if keepsRecords { kept += batchRecords }
                counts.processed += batch.count
                progress.total = max(counts.processed, estimated - source.nonImages)
                progress.update(counts.processed)
            }
        } catch {
            // Only StopWriting is thrown: `writeFailure` says why.
        }
        records += kept
        (tally.captioned, tally.failed, tally.processed) = counts
        // Stop here: nothing more can be recorded.
        if let writeFailure { throw ToolFailure(writeFailure.description) }
    }

    /// The gallery of every record in the output (earlier runs' too), written atomically.
    private func writePage(_ html: String, records: [BatchRecord]) throws {
        let pageFolder = (html as NSString).deletingLastPathComponent
        let entries = records.map { record in
            HTMLGallery.Entry(imagePath: root + "/" + record.path, label: FileName.shown(record.path), caption: record.caption,
                              logProbability: record.logProbability, error: record.error,
                              sheetPath: sheetPath(record.path).flatMap { FileBytes.isRegularFile($0) ? $0 : nil })
        }
        let page = HTMLGallery.page(title: "Captions: \(directory)", entries: entries,
                                    pageFolder: pageFolder.isEmpty ? "." : pageFolder)
        do { try FileBytes.writeAtomically(Array(page.utf8), to: html) } catch { throw ToolFailure(error.description) }
    }
}

/// The files to caption, in walk order: images in the shard not already in the output.
/// Used by one pipeline thread at a time (the pipeline holds its lock while calling `next`).
final class FileSource: @unchecked Sendable {
    private(set) var walk: ImageFiles
    let shard: Shard
    let done: Set<ExactPath>
    private(set) var alreadyDone = 0
    private let lock = NSLock()

    init(files: ImageFiles, shard: Shard, done: Set<ExactPath>) {
        self.walk = files
        self.shard = shard
        self.done = done
    }

    var nonImages: Int { lock.withLock { walk.skippedNonImages } }

    func next() -> ImageFiles.File? {
        lock.withLock {
            while let file = walk.next() {
                guard shard.contains(relativePath: file.relative) else { continue }
                if done.contains(FileName.key(file.relative)) {
                    alreadyDone += 1
                    continue
                }
                return file
            }
            return nil
        }
    }
}
