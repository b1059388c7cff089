import Foundation

/// Karpathy's split files: `{"images": [{"filepath"?, "filename", "split",
/// "sentences": [{"raw"}], "cocoid"?}]}`. "restval" is training data.
enum KarpathyReader {
    static func read(file: String, root: String) throws(DatasetError) -> Dataset {
        let json = try DatasetLoader.readJSON(file)
        guard let entries = json["images"] as? [Any] else {
            throw .malformed(path: file, reason: "no \"images\" array")
        }
        let folder = (file as NSString).deletingLastPathComponent
        var problems: [DatasetProblem] = []
        var images: [DatasetImage] = []
        var imageFolder: String?

        for (index, entry) in entries.enumerated() {
            let label = "images[\(index)]"
            guard let entry = entry as? [String: Any], let filename = entry["filename"] as? String, !filename.isEmpty else {
                problems.append(DatasetProblem(.malformedRow, file: file, detail: "\(label) has no \"filename\""))
                continue
            }
            guard let splitName = entry["split"] as? String else {
                problems.append(DatasetProblem(.malformedRow, file: file, detail: "\(label) (\(filename)) has no \"split\""))
                continue
            }
            guard let split = DatasetSplit(datasetName: splitName) else {
                problems.append(DatasetProblem(.unknownSplit, file: file, detail: "\(label) (\(filename)): \"\(splitName)\""))
                continue
            }
            let relative = (entry["filepath"] as? String).map { $0.isEmpty ? filename : $0 + "/" + filename } ?? filename
            var captions: [String] = []
            for sentence in entry["sentences"] as? [Any] ?? [] {
                guard let raw = (sentence as? [String: Any])?["raw"] as? String else {
                    problems.append(DatasetProblem(.malformedRow, file: file, detail: "\(label) (\(filename)): a sentence has no \"raw\" text"))
                    continue
                }
                if DatasetLoader.isBlank(raw) {
                    problems.append(DatasetProblem(.emptyCaption, file: file, detail: "\(label) (\(filename))"))
                } else {
                    captions.append(DatasetLoader.clean(raw))
                }
            }
            guard !captions.isEmpty else { continue }
            if imageFolder == nil {
                imageFolder = DatasetLoader.imageFolder(
                    candidates: [folder, folder + "/images", folder + "/Images", folder + "/Flicker8k_Dataset",
                                 folder + "/Flickr8k_Dataset", folder + "/flickr30k-images", folder + "/coco"],
                    probe: relative) ?? folder
            }
            let id: String
            if let cocoID = entry["cocoid"] as? Int { id = String(cocoID) } else { id = relative }
            images.append(DatasetImage(id: id, path: imageFolder! + "/" + relative, captions: captions, split: split))
        }
        return Dataset(format: .karpathy, root: root, captionSource: file, images: images, problems: problems,
                       hasOwnSplits: true)
    }
}
