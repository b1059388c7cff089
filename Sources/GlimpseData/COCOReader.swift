import Foundation

/// COCO captions files: `{"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"}]}`.
///
/// Splits: a `captions_train*.json` file gives training images and a
/// `captions_val*.json` file gives validation images. When both are present the
/// validation images are divided, deterministically and by image, into validation
/// and test halves (the official test set has no public captions); when only one
/// file is present, its images are split 90/5/5 like any dataset without splits.
enum COCOReader {
    static func read(files: [String], root: String, splitter: DatasetSplitter) throws(DatasetError) -> Dataset {
        var images: [DatasetImage] = []
        var problems: [DatasetProblem] = []
        var kinds: [DatasetSplit?] = []
        for file in files {
            let name = (file as NSString).lastPathComponent.lowercased()
            let kind: DatasetSplit? = name.contains("train") ? .train : (name.contains("val") ? .validation : nil)
            kinds.append(kind)
            var part = try readOne(file, problems: &problems)
            for index in part.indices { part[index].split = kind ?? .train }
            images += part
        }
        let hasTrain = kinds.contains(.train), hasValidation = kinds.contains(.validation)
        let ownSplits = hasTrain && hasValidation
        if ownSplits {
            // Halve the validation images into validation and test.
            var validation = images.filter { $0.split == .validation }
            DatasetSplitter(validationFraction: 0.5, testFraction: 0.0, seed: splitter.seed).assign(&validation)
            var byID: [String: DatasetSplit] = [:]
            for image in validation { byID[image.id] = image.split == .validation ? .test : .validation }
            for index in images.indices where images[index].split == .validation {
                images[index].split = byID[images[index].id] ?? .validation
            }
        }
        return Dataset(format: .coco, root: root, captionSource: files.joined(separator: ", "), images: images,
                       problems: problems, hasOwnSplits: ownSplits)
    }

    static func readOne(_ file: String, problems: inout [DatasetProblem]) throws(DatasetError) -> [DatasetImage] {
        let json = try DatasetLoader.readJSON(file)
        guard let imageEntries = json["images"] as? [Any], let annotations = json["annotations"] as? [Any] else {
            throw .malformed(path: file, reason: "expected \"images\" and \"annotations\" arrays")
        }
        var fileNames: [Int: String] = [:]
        var order: [Int] = []
        for (index, entry) in imageEntries.enumerated() {
            guard let entry = entry as? [String: Any], let id = entry["id"] as? Int,
                  let name = entry["file_name"] as? String, !name.isEmpty else {
                problems.append(DatasetProblem(.malformedRow, file: file, detail: "images[\(index)] needs \"id\" and \"file_name\""))
                continue
            }
            if fileNames[id] == nil { order.append(id) }
            fileNames[id] = name
        }
        var captions: [Int: [String]] = [:]
        for (index, entry) in annotations.enumerated() {
            guard let entry = entry as? [String: Any], let id = entry["image_id"] as? Int,
                  let caption = entry["caption"] as? String else {
                problems.append(DatasetProblem(.malformedRow, file: file, detail: "annotations[\(index)] needs \"image_id\" and \"caption\""))
                continue
            }
            guard fileNames[id] != nil else {
                problems.append(DatasetProblem(.malformedRow, file: file, detail: "annotations[\(index)] names image \(id), which is not listed"))
                continue
            }
            if DatasetLoader.isBlank(caption) {
                problems.append(DatasetProblem(.emptyCaption, file: file, detail: "annotations[\(index)] (image \(id))"))
                continue
            }
            captions[id, default: []].append(DatasetLoader.clean(caption))
        }
        // Images live in a folder named after the annotation file: captions_val2014.json -> val2014/.
        let folder = (file as NSString).deletingLastPathComponent
        let parent = (folder as NSString).deletingLastPathComponent
        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        let setName = stem.hasPrefix("captions_") ? String(stem.dropFirst("captions_".count)) : stem
        var candidates: [String] = []
        for base in [folder, parent] {
            candidates += [base + "/" + setName, base + "/images/" + setName, base + "/images", base]
        }
        let probe = order.first(where: { captions[$0] != nil }).flatMap { fileNames[$0] }
        let imageFolder = DatasetLoader.imageFolder(candidates: candidates, probe: probe) ?? folder + "/" + setName
        return order.compactMap { id in
            guard let texts = captions[id], let name = fileNames[id] else { return nil }
            return DatasetImage(id: String(id), path: imageFolder + "/" + name, captions: texts, split: .train)
        }
    }
}
