import Foundation

/// Flickr8k in its two common distributions.
enum Flickr8kReader {
    /// Captions grouped by image in order of first appearance.
    struct Grouped {
        var order: [String] = []
        var captions: [String: [String]] = [:]

        mutating func add(_ image: String, _ caption: String) {
            if captions[image] == nil { order.append(image) }
            captions[image, default: []].append(caption)
        }
    }

    /// Kaggle: `captions.txt` (CSV, header `image,caption`) and `Images/`.
    static func readKaggle(captionsFile: String, root: String) throws(DatasetError) -> Dataset {
        let text = try DatasetLoader.readText(captionsFile)
        // One caption per line: a stray quote loses its own row only, reported below.
        let rows = CSVReader.rows(text, quotedLineBreaks: false)
        guard let header = rows.first,
              header.fields.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) == ["image", "caption"] else {
            throw .malformed(path: captionsFile, reason: "the first line must be the header image,caption")
        }
        var grouped = Grouped()
        var problems: [DatasetProblem] = []
        for row in rows.dropFirst() {
            if row.unterminatedQuote {
                problems.append(DatasetProblem(.malformedRow, file: captionsFile, line: row.line, detail: "a quoted field is not closed on its line; the row is skipped"))
                continue
            }
            guard row.fields.count == 2 else {
                problems.append(DatasetProblem(.malformedRow, file: captionsFile, line: row.line,
                                               detail: "expected 2 fields (image,caption), found \(row.fields.count)"))
                continue
            }
            let image = row.fields[0].trimmingCharacters(in: .whitespaces)
            guard !image.isEmpty else {
                problems.append(DatasetProblem(.malformedRow, file: captionsFile, line: row.line, detail: "no image name"))
                continue
            }
            guard !DatasetLoader.isBlank(row.fields[1]) else {
                problems.append(DatasetProblem(.emptyCaption, file: captionsFile, line: row.line, detail: image))
                continue
            }
            grouped.add(image, DatasetLoader.clean(row.fields[1]))
        }
        let folder = (captionsFile as NSString).deletingLastPathComponent
        let imageFolder = DatasetLoader.imageFolder(candidates: [folder + "/Images", folder + "/images", folder],
                                                    probe: grouped.order.first) ?? folder + "/Images"
        let images = grouped.order.map {
            DatasetImage(id: $0, path: imageFolder + "/" + $0, captions: grouped.captions[$0]!, split: .train)
        }
        return Dataset(format: .flickr8kKaggle, root: root, captionSource: captionsFile, images: images,
                       problems: problems, hasOwnSplits: false)
    }

    /// Original: `Flickr8k.token.txt` lines `name.jpg#N<TAB>caption`, optional split lists
    /// `Flickr_8k.trainImages.txt`, `Flickr_8k.devImages.txt`, `Flickr_8k.testImages.txt`
    /// beside it, images in a sibling folder (`Flicker8k_Dataset`, as the archive spells it).
    static func readOriginal(tokenFile: String, root: String) throws(DatasetError) -> Dataset {
        let text = try DatasetLoader.readText(tokenFile)
        var grouped = Grouped()
        var problems: [DatasetProblem] = []
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy(\.isWhitespace) { continue }
            guard let tab = line.firstIndex(of: "\t") else {
                problems.append(DatasetProblem(.malformedRow, file: tokenFile, line: offset + 1, detail: "no tab between image and caption"))
                continue
            }
            let key = line[..<tab]
            let caption = String(line[line.index(after: tab)...])
            // "name.jpg#3": the number after the last '#' counts the image's captions.
            let image = key.lastIndex(of: "#").map { String(key[..<$0]) } ?? String(key)
            guard !image.isEmpty else {
                problems.append(DatasetProblem(.malformedRow, file: tokenFile, line: offset + 1, detail: "no image name"))
                continue
            }
            guard !DatasetLoader.isBlank(caption) else {
                problems.append(DatasetProblem(.emptyCaption, file: tokenFile, line: offset + 1, detail: image))
                continue
            }
            grouped.add(image, DatasetLoader.clean(caption))
        }

        let textFolder = (tokenFile as NSString).deletingLastPathComponent
        let parent = (textFolder as NSString).deletingLastPathComponent
        var candidates: [String] = []
        for base in [textFolder, parent, root] {
            for name in ["Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images"] { candidates.append(base + "/" + name) }
        }
        candidates.append(textFolder)
        let imageFolder = DatasetLoader.imageFolder(candidates: candidates, probe: grouped.order.first)
            ?? parent + "/Flicker8k_Dataset"

        // The dataset's own splits, when its lists are there.
        var splitOf: [String: DatasetSplit] = [:]
        for (name, split) in [("Flickr_8k.trainImages.txt", DatasetSplit.train), ("Flickr_8k.devImages.txt", .validation),
                              ("Flickr_8k.testImages.txt", .test)] {
            let file = textFolder + "/" + name
            guard FileManager.default.fileExists(atPath: file) else { continue }
            let list = try DatasetLoader.readText(file)
            for entry in list.split(whereSeparator: \.isNewline) {
                let image = entry.trimmingCharacters(in: .whitespaces)
                if !image.isEmpty { splitOf[image] = split }
            }
        }
        let hasSplits = !splitOf.isEmpty
        var images: [DatasetImage] = []
        for image in grouped.order {
            var split = DatasetSplit.train
            if hasSplits {
                guard let listed = splitOf[image] else {
                    problems.append(DatasetProblem(.notInSplit, file: tokenFile, detail: image))
                    continue
                }
                split = listed
            }
            images.append(DatasetImage(id: image, path: imageFolder + "/" + image, captions: grouped.captions[image]!, split: split))
        }
        return Dataset(format: .flickr8k, root: root, captionSource: tokenFile, images: images,
                       problems: problems, hasOwnSplits: hasSplits)
    }
}
