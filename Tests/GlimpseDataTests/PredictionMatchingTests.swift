import GlimpseData
import Testing

@Suite("Matching predictions to a dataset's images")
struct PredictionMatchingTests {
    static func image(_ id: String, at path: String) -> DatasetImage {
        DatasetImage(id: id, path: path, captions: ["a caption"], split: .test)
    }

    static func predictions(_ ids: [String]) -> Predictions {
        Predictions(entries: ids.map { Predictions.Entry(imageID: $0, caption: "caption of \($0)") })
    }

    @Test("an id relative to the dataset folder matches, however the folder and the id are spelled")
    func relativeToFolder() {
        let images = [Self.image("a.jpg", at: "data/Images/a.jpg"), Self.image("b.jpg", at: "data/Images/b.jpg")]
        let predicted = Self.predictions(["Images/a.jpg", "./Images//b.jpg"])
        for folder in ["data", "data/", "./data"] {
            let matching = predicted.match(images, folder: folder)
            #expect(matching.captions == ["a.jpg": "caption of Images/a.jpg", "b.jpg": "caption of ./Images//b.jpg"],
                    "folder \(folder): \(matching)")
            #expect(matching.unknown.isEmpty && matching.missing.isEmpty)
        }
        // Without the folder, a relative path is no spelling of the image.
        #expect(predicted.match(images).unknown == ["Images/a.jpg", "./Images//b.jpg"])
    }

    @Test("a file name two images share matches neither and is reported as ambiguous; their relative paths match each")
    func sharedFileName() {
        let images = [Self.image("1", at: "coco/train/x.jpg"), Self.image("2", at: "coco/val/x.jpg")]
        let byName = Self.predictions(["x.jpg"]).match(images, folder: "coco")
        #expect(byName.ambiguous == ["x.jpg"] && byName.captions.isEmpty && byName.unknown.isEmpty)
        let byPath = Self.predictions(["train/x.jpg", "val/x.jpg"]).match(images, folder: "coco")
        #expect(byPath.captions == ["1": "caption of train/x.jpg", "2": "caption of val/x.jpg"])
        #expect(byPath.ambiguous.isEmpty)
    }

    @Test("an image's own id wins over another image's file name or path")
    func idsFirst() {
        // Image "b.jpg" is the file a.jpg; image "a.jpg" is the file b.jpg.
        let images = [Self.image("b.jpg", at: "d/a.jpg"), Self.image("a.jpg", at: "d/b.jpg")]
        let matching = Self.predictions(["a.jpg"]).match(images, folder: "d")
        #expect(matching.captions == ["a.jpg": "caption of a.jpg"])
        #expect(matching.missing == ["b.jpg"])
    }

    @Test("a dataset named by its captions file: paths are relative to the folder holding it")
    func captionsFileNamed() throws {
        let folder = try DatasetFolder()
        try folder.image("Images/a.jpg")
        try folder.write("image,caption\na.jpg,A dog runs.\n", to: "captions.txt")
        let dataset = try DatasetLoader().load(folder.path + "/captions.txt")
        #expect(dataset.folder == folder.path)
        let matching = Self.predictions(["Images/a.jpg"]).match(dataset.images, folder: dataset.folder)
        #expect(matching.captions == ["a.jpg": "caption of Images/a.jpg"])
        #expect(try DatasetLoader().load(folder.path + "/").folder == folder.path)
    }
}
