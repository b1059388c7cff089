import GlimpseData
import Testing

@Suite("Reading captioned datasets")
struct DatasetLoaderTests {
    @Test("Flickr8k from Kaggle: CSV with quoted commas, CRLF, a BOM, bad rows reported, images in Images/")
    func flickr8kKaggle() throws {
        let folder = try DatasetFolder()
        try folder.image("Images/a.jpg")
        try folder.image("Images/b.jpg")
        try folder.write("\u{FEFF}image,caption\r\n"
            + "a.jpg,A dog runs .\r\n"
            + "a.jpg,\"A dog, brown, runs\"\r\n"
            + "b.jpg,\"He said \"\"hi\"\"\"\r\n"
            + "b.jpg,   \r\n"
            + "c.jpg,one,two\r\n"
            + "\r\n", to: "captions.txt")
        let dataset = try DatasetLoader().load(folder.path)
        #expect(dataset.format == .flickr8kKaggle)
        #expect(dataset.images.map(\.id) == ["a.jpg", "b.jpg"])
        #expect(dataset.images[0].captions == ["A dog runs .", "A dog, brown, runs"])
        #expect(dataset.images[1].captions == ["He said \"hi\""])
        #expect(dataset.images[0].path == folder.path + "/Images/a.jpg")
        #expect(dataset.problems.map(\.kind) == [.emptyCaption, .malformedRow])
        #expect(dataset.problems.map(\.line) == [5, 6])
        #expect(!dataset.hasOwnSplits)
        #expect(DatasetLoader.missingImages(in: dataset).isEmpty)
    }

    @Test("a quote left open loses its own row, reported with its line, and none of the rows after it")
    func kaggleStrayQuote() throws {
        let folder = try DatasetFolder()
        for name in ["a", "b", "c", "d"] { try folder.image("Images/\(name).jpg") }
        try folder.write("image,caption\n"
            + "a.jpg,\"A dog runs\n"          // line 2: the quote is never closed
            + "b.jpg,A cat sits\n"
            + "c.jpg,\"A bird, flying\"\r\n"
            + "d.jpg,\"Two \"\"quoted\"\" words\n"  // line 5: open again, at the end of the file
            + "d.jpg,A fish\n", to: "captions.txt")
        let dataset = try DatasetLoader().load(folder.path)
        #expect(dataset.images.map(\.id) == ["b.jpg", "c.jpg", "d.jpg"])
        #expect(dataset.images.map(\.captions) == [["A cat sits"], ["A bird, flying"], ["A fish"]])
        #expect(dataset.problems.map(\.kind) == [.malformedRow, .malformedRow])
        #expect(dataset.problems.map(\.line) == [2, 5])
        #expect(dataset.problems.allSatisfy { $0.detail.contains("not closed on its line") })
    }

    @Test("a wrong CSV header is a malformed file")
    func kaggleHeader() throws {
        let folder = try DatasetFolder()
        try folder.write("image,caption\na.jpg,x\n", to: "captions.txt")
        try folder.write("name,text\na.jpg,x\n", to: "other/captions.txt")
        #expect(throws: DatasetError.malformed(path: folder.path + "/other/captions.txt",
                                               reason: "the first line must be the header image,caption")) {
            try DatasetLoader().load(folder.path + "/other/captions.txt", format: .flickr8kKaggle)
        }
    }

    @Test("Flickr8k original: token file, split lists, the Flicker8k_Dataset folder, a stray row")
    func flickr8kOriginal() throws {
        let folder = try DatasetFolder()
        for name in ["x.jpg", "y.jpg", "z.jpg"] { try folder.image("Flicker8k_Dataset/" + name) }
        try folder.write("""
            x.jpg#0\tA cat sits .
            x.jpg#1\tA cat sleeps .
            y.jpg#0\tA bird flies .
            z.jpg#0\tA fish swims .
            w.jpg#0\tNot in any list .
            broken line without a tab
            y.jpg#1\t\t
            """, to: "Flickr8k_text/Flickr8k.token.txt")
        try folder.write("x.jpg\n", to: "Flickr8k_text/Flickr_8k.trainImages.txt")
        try folder.write("y.jpg\n", to: "Flickr8k_text/Flickr_8k.devImages.txt")
        try folder.write("z.jpg\n", to: "Flickr8k_text/Flickr_8k.testImages.txt")
        let dataset = try DatasetLoader().load(folder.path)
        #expect(dataset.format == .flickr8k)
        #expect(dataset.hasOwnSplits)
        #expect(dataset.images.map(\.id) == ["x.jpg", "y.jpg", "z.jpg"])
        #expect(dataset.images.map(\.split) == [.train, .validation, .test])
        #expect(dataset.images[0].captions == ["A cat sits .", "A cat sleeps ."])
        #expect(dataset.images[0].path == folder.path + "/Flicker8k_Dataset/x.jpg")
        #expect(Set(dataset.problems.map(\.kind)) == [.malformedRow, .emptyCaption, .notInSplit])
    }

    @Test("Karpathy JSON: filepath, restval as training, empty sentences dropped, cocoid as id")
    func karpathy() throws {
        let folder = try DatasetFolder()
        try folder.image("val2014/p.jpg")
        try folder.image("train2014/q.jpg")
        try folder.write("""
            {"dataset": "coco", "images": [
              {"filepath": "val2014", "filename": "p.jpg", "split": "test", "cocoid": 7,
               "sentences": [{"raw": "A man surfs."}, {"raw": "  "}]},
              {"filepath": "train2014", "filename": "q.jpg", "split": "restval", "cocoid": 8,
               "sentences": [{"raw": "Two dogs play."}]},
              {"filename": "r.jpg", "split": "holdout", "sentences": [{"raw": "x"}]},
              {"split": "train"}
            ]}
            """, to: "dataset_coco.json")
        let dataset = try DatasetLoader().load(folder.path)
        #expect(dataset.format == .karpathy)
        #expect(dataset.images.map(\.id) == ["7", "8"])
        #expect(dataset.images.map(\.split) == [.test, .train])
        #expect(dataset.images[0].captions == ["A man surfs."])
        #expect(dataset.images[1].path == folder.path + "/train2014/q.jpg")
        #expect(Set(dataset.problems.map(\.kind)) == [.emptyCaption, .unknownSplit, .malformedRow])
    }

    @Test("invalid JSON names the file")
    func invalidJSON() throws {
        let folder = try DatasetFolder()
        try folder.write("{\"images\": [", to: "dataset_flickr8k.json")
        #expect {
            try DatasetLoader().load(folder.path)
        } throws: { error in
            guard case .malformed(let path, let reason) = error as? DatasetError else { return false }
            return path == folder.path + "/dataset_flickr8k.json" && reason.hasPrefix("invalid JSON")
        }
    }

    @Test("COCO captions: train and val files, images found by the file's set name, val halved into val and test")
    func coco() throws {
        let folder = try DatasetFolder()
        var trainImages: [String] = [], valImages: [String] = [], trainNotes: [String] = [], valNotes: [String] = []
        for id in 1...6 {
            try folder.image("train2017/\(id).jpg")
            trainImages.append("{\"id\": \(id), \"file_name\": \"\(id).jpg\"}")
            trainNotes.append("{\"image_id\": \(id), \"id\": \(100 + id), \"caption\": \"train caption \(id)\"}")
        }
        for id in 11...20 {
            try folder.image("val2017/\(id).jpg")
            valImages.append("{\"id\": \(id), \"file_name\": \"\(id).jpg\"}")
            valNotes.append("{\"image_id\": \(id), \"id\": \(100 + id), \"caption\": \"val caption \(id)\"}")
        }
        valNotes.append("{\"image_id\": 999, \"caption\": \"orphan\"}")
        try folder.write("{\"images\": [\(trainImages.joined(separator: ","))], \"annotations\": [\(trainNotes.joined(separator: ","))]}",
                         to: "annotations/captions_train2017.json")
        try folder.write("{\"images\": [\(valImages.joined(separator: ","))], \"annotations\": [\(valNotes.joined(separator: ","))]}",
                         to: "annotations/captions_val2017.json")
        let dataset = try DatasetLoader().load(folder.path)
        #expect(dataset.format == .coco)
        #expect(dataset.hasOwnSplits)
        #expect(dataset.images(in: .train).count == 6)
        #expect(dataset.images(in: .validation).count == 5)
        #expect(dataset.images(in: .test).count == 5)
        #expect(dataset.images.first { $0.id == "11" }?.path == folder.path + "/val2017/11.jpg")
        #expect(dataset.problems.count == 1)
        #expect(DatasetLoader.missingImages(in: dataset).isEmpty)
    }

    @Test("sidecar captions, searched recursively; images recognised by content")
    func sidecar() throws {
        let folder = try DatasetFolder()
        try folder.image("cat.jpg")
        try folder.write("A cat.\n\nA sleeping cat.\n", to: "cat.txt")
        try folder.image("pets/dog.png")
        try folder.write("A dog.\n", to: "pets/dog.txt")
        try folder.write("no image for me\n", to: "lonely.txt")
        try folder.write("not an image", to: "fake.jpg")
        try folder.write("A fake.\n", to: "fake.txt")
        try folder.image("empty.jpg")
        try folder.write("\n\n", to: "empty.txt")
        let dataset = try DatasetLoader().load(folder.path)
        #expect(dataset.format == .sidecar)
        #expect(dataset.images.map(\.id) == ["cat.jpg", "pets/dog.png"])
        #expect(dataset.images[0].captions == ["A cat.", "A sleeping cat."])
        #expect(dataset.problems.map(\.kind) == [.emptyCaption])
    }

    @Test("missing images are listed, not fatal")
    func missingImages() throws {
        let folder = try DatasetFolder()
        try folder.image("Images/here.jpg")
        try folder.write("image,caption\nhere.jpg,x\ngone.jpg,y\n", to: "captions.txt")
        let dataset = try DatasetLoader().load(folder.path)
        #expect(DatasetLoader.missingImages(in: dataset).map(\.file) == [folder.path + "/Images/gone.jpg"])
    }

    @Test("an unknown folder, a missing path, a forced format that is not there")
    func errors() throws {
        let folder = try DatasetFolder()
        try folder.write("hello", to: "readme.md")
        #expect(throws: DatasetError.unrecognized(path: folder.path)) { try DatasetLoader().load(folder.path) }
        #expect(throws: DatasetError.notFound(path: "/no/such/dataset")) { try DatasetLoader().load("/no/such/dataset") }
        #expect {
            try DatasetLoader().load(folder.path, format: .coco)
        } throws: { error in
            if case .formatNotFound(_, .coco, _) = error as? DatasetError { return true }
            return false
        }
    }

    @Test("a dataset file can be named directly")
    func fileArgument() throws {
        let folder = try DatasetFolder()
        try folder.image("Images/a.jpg")
        try folder.write("image,caption\na.jpg,x\n", to: "captions.txt")
        let dataset = try DatasetLoader().load(folder.path + "/captions.txt")
        #expect(dataset.format == .flickr8kKaggle && dataset.images.count == 1)
    }
}

@Suite("Splitting datasets without splits of their own")
struct DatasetSplitterTests {
    func images(_ count: Int) -> [DatasetImage] {
        (0..<count).map { DatasetImage(id: "image\($0).jpg", path: "", captions: ["x"], split: .train) }
    }

    @Test("90/5/5 by image, deterministic for a seed, independent of listing order")
    func deterministic() {
        var first = images(1000)
        DatasetSplitter(seed: 7).assign(&first)
        #expect(first.filter { $0.split == .train }.count == 900)
        #expect(first.filter { $0.split == .validation }.count == 50)
        #expect(first.filter { $0.split == .test }.count == 50)
        var reversed = Array(images(1000).reversed())
        DatasetSplitter(seed: 7).assign(&reversed)
        let byID = Dictionary(uniqueKeysWithValues: first.map { ($0.id, $0.split) })
        #expect(reversed.allSatisfy { byID[$0.id] == $0.split })
        var other = images(1000)
        DatasetSplitter(seed: 8).assign(&other)
        #expect(zip(first, other).contains { $0.split != $1.split })
    }

    @Test("small datasets still get one validation and one test image")
    func small() {
        var few = images(5)
        DatasetSplitter().assign(&few)
        #expect(few.filter { $0.split == .validation }.count == 1)
        #expect(few.filter { $0.split == .test }.count == 1)
    }

    @Test("the loader applies it when the dataset has no splits")
    func loaderApplies() throws {
        let folder = try DatasetFolder()
        var rows = "image,caption\n"
        for index in 0..<40 { rows += "i\(index).jpg,caption \(index)\n" }
        try folder.write(rows, to: "captions.txt")
        let dataset = try DatasetLoader(splitter: DatasetSplitter(seed: 3)).load(folder.path)
        #expect(dataset.images(in: .train).count == 36)
        #expect(dataset.images(in: .validation).count == 2)
        #expect(dataset.images(in: .test).count == 2)
    }
}
